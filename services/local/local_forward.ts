// .forward files for local: try each forward_path name (expanded per
// recipient, skipped when it names an unset $variable), read the first
// that exists with the user's rights, and deliver to its destinations.
// An empty .forward means mailbox delivery, as in Postfix.

import * as fs from 'node:fs';
import { msg } from '../../packages/log/log';
import { localExpand } from './local_expand';
import { deliverTokens } from './local_token';
import { asUser } from './local_user';
import {
  beenHere,
  deferred,
  errnoText,
  type DeliveryAttr,
  type LocalAddress,
  type LocalContext,
  type Rights,
} from './local_state';

// A .forward bigger than this is not a list of destinations.
const FORWARD_MAX = 1024 * 1024;

export function forwardVars(
  ctx: LocalContext,
  rcpt: LocalAddress,
  user: Rights,
): Record<string, string> {
  return {
    user: rcpt.user,
    home: user.home,
    shell: user.shell,
    recipient: rcpt.address,
    extension: rcpt.extension,
    domain: rcpt.domain,
    local: rcpt.local,
    recipient_delimiter: ctx.settings.recipientDelimiter,
  };
}

// True when a .forward took the mail (or its reading deferred it).
export async function deliverDotForward(
  ctx: LocalContext,
  attr: DeliveryAttr,
  rcpt: LocalAddress,
  user: Rights,
): Promise<boolean> {
  const vars = forwardVars(ctx, rcpt, user);
  for (const template of ctx.settings.forwardPath) {
    const { text: file, undefinedUsed } = localExpand(template, vars);
    if (undefinedUsed || !file) continue;
    if (beenHere(ctx, `forward ${file}`)) return false;
    const read = readForward(file, user);
    if (read === null) continue;
    if (read instanceof Error) {
      ctx.record(attr, deferred('4.3.0', `cannot open ${errnoText(read)}`));
      return true;
    }
    if (!read.trim()) return false;
    await expandForward(ctx, attr, rcpt, user, read);
    return true;
  }
  return false;
}

async function expandForward(
  ctx: LocalContext,
  attr: DeliveryAttr,
  rcpt: LocalAddress,
  user: Rights,
  text: string,
): Promise<void> {
  const extProp = ctx.settings.propagateUnmatchedExtensions;
  const next: DeliveryAttr = {
    ...attr,
    origin: 'forward',
    owner: rcpt.user,
    rights: user,
    expFrom: rcpt.local,
    level: attr.level + 1,
    unmatched: extProp.includes('forward') ? rcpt.extension : '',
  };
  await deliverTokens(ctx, next, text);
}

// The file's text; null when there is none to use; an Error when it
// exists but cannot be read now (defer, do not skip the user's wishes).
function readForward(file: string, user: Rights): string | null | Error {
  try {
    return asUser(user, () => readRegular(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    if (code === 'EACCES' || code === 'ELOOP') {
      msg.warn(`cannot open ${file}: ${errnoText(err)}`);
      return null;
    }
    return err as Error;
  }
}

function readRegular(file: string): string | null {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > FORWARD_MAX) return null;
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}
