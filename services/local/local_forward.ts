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

// True when a .forward took the mail (or its reading deferred it). The
// first name in forward_path that exists is the only one used.
export async function deliverDotForward(
  ctx: LocalContext,
  attr: DeliveryAttr,
  rcpt: LocalAddress,
  user: Rights,
): Promise<boolean> {
  const found = findForward(ctx, rcpt, user);
  if (!found) return false;
  if (beenHere(ctx, `forward ${found.file}`))
    // Seen before: done then, or we are inside it ("bob" in bob's own
    // .forward), which means the mailbox.
    return ctx.seen.has(`forward-done ${found.file}`);
  const read = readForward(found.file, user);
  if (read instanceof Error) {
    ctx.record(attr, deferred('4.3.0', `cannot open ${errnoText(read)}`));
    return true;
  }
  if (read === null || !read.trim()) return false;
  const ext = found.usesExtension ? '' : rcpt.extension;
  await expandForward(ctx, attr, rcpt, user, read, ext);
  beenHere(ctx, `forward-done ${found.file}`);
  return true;
}

interface FoundForward {
  file: string;
  usesExtension: boolean; // .forward+ext: the extension is consumed
}

function findForward(
  ctx: LocalContext,
  rcpt: LocalAddress,
  user: Rights,
): FoundForward | null {
  const vars = forwardVars(ctx, rcpt, user);
  for (const template of ctx.settings.forwardPath) {
    const { text: file, undefinedUsed } = localExpand(template, vars);
    if (undefinedUsed || !file) continue;
    if (exists(file, user))
      return {
        file,
        usesExtension: !!rcpt.extension && /extension/.test(template),
      };
  }
  return null;
}

function exists(file: string, user: Rights): boolean {
  try {
    asUser(user, () => fs.lstatSync(file));
    return true;
  } catch {
    return false;
  }
}

async function expandForward(
  ctx: LocalContext,
  attr: DeliveryAttr,
  rcpt: LocalAddress,
  user: Rights,
  text: string,
  extension: string,
): Promise<void> {
  const extProp = ctx.settings.propagateUnmatchedExtensions;
  const next: DeliveryAttr = {
    ...attr,
    origin: 'forward',
    owner: rcpt.user,
    rights: user,
    expFrom: rcpt.local,
    level: attr.level + 1,
    unmatched: extProp.includes('forward') ? extension : '',
  };
  await deliverTokens(ctx, next, text);
}

// The file's text; null when it is not to be used (with Postfix's
// warning); an Error when it cannot be read now, which defers rather
// than ignore the user's wishes.
function readForward(file: string, user: Rights): string | null | Error {
  try {
    return asUser(user, () => readChecked(file, user));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'ELOOP') {
      msg.warn(`cannot open file ${file}: ${errnoText(err)}`);
      return null;
    }
    return err as Error;
  }
}

// Only a regular file of the user's (or root's) that others cannot write.
function readChecked(file: string, user: Rights): string | null {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > FORWARD_MAX)
      msg.warn(`file ${file} is not a regular file`);
    else if (st.uid !== 0 && st.uid !== user.uid)
      msg.warn(`file ${file} has bad owner uid ${st.uid}`);
    else if (st.mode & 0o002) msg.warn(`file ${file} is world writable`);
    else return fs.readFileSync(fd, 'utf8');
    return null;
  } finally {
    fs.closeSync(fd);
  }
}
