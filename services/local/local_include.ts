// :include:/file/name destinations for local: read the file with the
// rights of the expansion that named it, then deliver to its lines with
// the rights of the file's owner (default_privs when root owns it).
// Addresses in it are always resubmitted, each as a new message.

import * as fs from 'node:fs';
import { ALIAS_NESTING_LIMIT } from './local_alias';
import { privsFor } from './local_attr';
import { deliverTokens } from './local_token';
import { asUser, getpwuid } from './local_user';
import {
  beenHere,
  bounced,
  deferred,
  DeliveryFailure,
  errnoText,
  type DeliveryAttr,
  type LocalContext,
  type Rights,
} from './local_state';

const INCLUDE_MAX = 16 * 1024 * 1024;

export async function deliverInclude(
  ctx: LocalContext,
  attr: DeliveryAttr,
  file: string,
): Promise<void> {
  if (!file.startsWith('/')) {
    ctx.record(attr, bounced('5.3.5', `:include: path must be absolute`));
    return;
  }
  if (attr.level > ALIAS_NESTING_LIMIT) {
    ctx.record(attr, bounced('5.4.6', `include file loop for ${file}`));
    return;
  }
  if (beenHere(ctx, `include ${file}`)) return;
  try {
    const { text, rights } = readInclude(ctx, attr, file);
    const next: DeliveryAttr = {
      ...attr,
      origin: 'include',
      rights,
      level: attr.level + 1,
    };
    await deliverTokens(ctx, next, text);
  } catch (err) {
    ctx.record(attr, includeFailure(file, err));
  }
}

function readInclude(
  ctx: LocalContext,
  attr: DeliveryAttr,
  file: string,
): { text: string; rights: Rights | null } {
  const reader = privsFor(ctx, attr);
  return asUser(reader, () => {
    const fd = fs.openSync(file, fs.constants.O_RDONLY);
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile() || st.size > INCLUDE_MAX)
        throw new DeliveryFailure(
          bounced('5.3.5', `:include: file ${file} is not a regular file`),
        );
      return { text: fs.readFileSync(fd, 'utf8'), rights: owner(st, attr) };
    } finally {
      fs.closeSync(fd);
    }
  });
}

// An ordinary user's include file speaks with that user's rights, so it
// cannot take over the account of whoever listed it.
function owner(st: fs.Stats, attr: DeliveryAttr): Rights | null {
  if (st.uid === 0) return attr.rights;
  const pw = getpwuid(st.uid);
  if (!pw)
    throw new DeliveryFailure(
      deferred('4.3.0', `cannot find :include: file owner uid ${st.uid}`),
    );
  return pw;
}

function includeFailure(file: string, err: unknown) {
  if (err instanceof DeliveryFailure) return err.outcome;
  const code = (err as NodeJS.ErrnoException).code;
  const why = `cannot open include file ${file}: ${errnoText(err)}`;
  if (code === 'ENOENT' || code === 'EACCES') return bounced('5.3.5', why);
  return deferred('4.3.0', why);
}
