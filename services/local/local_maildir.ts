// Maildir delivery for local: write tmp/<sec>.P<pid>.<host>, fsync, link
// it to new/<sec>.V<dev>I<inode>M<usec>.<host> under Postfix's names,
// unlink the tmp name, fsync new/. No From_ line and no lock are needed.
// Used for home_mailbox and spool Maildirs and for alias /dir/ targets.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { COPY_MAILDIR, writeMessage, type HeaderValues } from './local_content';
import { asUser, isRoot } from './local_user';
import {
  bounced,
  deferred,
  errnoText,
  sent,
  type LocalMessage,
  type LocalSettings,
  type Outcome,
  type Rights,
} from './local_state';

export interface CopyTarget {
  msg: LocalMessage;
  copy: HeaderValues;
  rights: Rights;
  settings: LocalSettings;
}

// Postfix keeps the unique names parseable: '/' and ':' in the host name
// would break the directory or the info part.
export function maildirHost(): string {
  return os.hostname().replace(/\//g, '\\057').replace(/:/g, '\\072');
}

// Deliver into the Maildir dir. inSpool: dir is made by us (as root)
// inside mail_spool_directory and given to the user, as Postfix does.
export function deliverMaildir(
  t: CopyTarget,
  dir: string,
  inSpool = false,
): Outcome {
  try {
    if (inSpool) makeSpoolMaildir(dir, t.rights);
    asUser(t.rights, () => writeMaildir(t, dir));
    return sent('delivered to maildir');
  } catch (err) {
    return maildirFailure(err);
  }
}

function makeSpoolMaildir(dir: string, rights: Rights): void {
  if (fs.existsSync(dir) || !isRoot()) return;
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.chownSync(dir, rights.uid, rights.gid);
}

function writeMaildir(t: CopyTarget, dir: string): void {
  for (const sub of ['', 'tmp', 'new', 'cur'])
    fs.mkdirSync(path.join(dir, sub), { recursive: true, mode: 0o700 });
  // Microseconds for the M part of the name; Date has only milliseconds.
  const micros = Math.floor(
    (performance.timeOrigin + performance.now()) * 1000,
  );
  const sec = Math.floor(micros / 1e6);
  const usec = micros % 1e6;
  const host = maildirHost();
  const tmp = path.join(dir, 'tmp', `${sec}.P${process.pid}.${host}`);
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    const limit = t.settings.mailboxSizeLimit || Infinity;
    writeMessage(fd, t.msg, { ...t.copy, ...COPY_MAILDIR }, limit);
    fs.fsyncSync(fd);
    const st = fs.fstatSync(fd, { bigint: true });
    const name =
      `${sec}.V${st.dev.toString(16)}I${st.ino.toString(16)}` +
      `M${usec}.${host}`;
    fs.linkSync(tmp, path.join(dir, 'new', name));
  } finally {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
  }
  fsyncDir(path.join(dir, 'new'));
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

// A full disk or quota is the user's problem and bounces as in Postfix
// (5.2.2); any other failure is ours or temporary and defers.
function maildirFailure(err: unknown): Outcome {
  const why = `maildir delivery failed: ${errnoText(err)}`;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EFBIG' || code === 'EDQUOT') return bounced('5.2.2', why);
  return deferred('4.2.0', why);
}
