// UNIX-style mailbox (mbox) delivery for local: lock the file (dot-lock
// and fcntl as mailbox_delivery_lock says), append From_ line, envelope
// headers and the >From-quoted message, fsync, and on any error cut the
// file back to its old size. Used for spool, home and alias file targets.

import * as fs from 'node:fs';
import {
  dotlockRelease,
  dotlockTry,
  kernelLockTry,
  LOCK_BUSY,
  withLockRetries,
} from './local_dotlock';
import { COPY_MBOX, writeMessage } from './local_content';
import type { CopyTarget } from './local_maildir';
import { asRoot, asUser } from './local_user';
import {
  bounced,
  deferred,
  DeliveryFailure,
  errnoText,
  sent,
  type Outcome,
} from './local_state';

const OPEN_FLAGS =
  fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_NOFOLLOW;

export interface MboxOptions {
  // The spool directory is the system's: the file is made and locked with
  // the agent's rights and handed to the user; else all runs as the user.
  inSpool: boolean;
  success: string; // "delivered to mailbox", "delivered to file: /x"
}

export async function deliverMbox(
  t: CopyTarget,
  file: string,
  opts: MboxOptions,
): Promise<Outcome> {
  // Steps that touch names run with the user's rights (or ours in the
  // spool), each in one synchronous block; the fcntl wait works on the fd.
  const as = <T>(fn: () => T): T =>
    opts.inSpool ? asRoot(fn) : asUser(t.rights, fn);
  try {
    const result = await withLockRetries(t.settings, () =>
      lockAndAppend(t, file, opts.inSpool, as),
    );
    if (result === LOCK_BUSY)
      return deferred(
        '4.2.0',
        `cannot update mailbox ${file} for user ` +
          `${t.rights.name}. unable to lock for exclusive access: ` +
          `Resource temporarily unavailable`,
      );
    return sent(opts.success);
  } catch (err) {
    if (err instanceof DeliveryFailure) return err.outcome;
    return mboxFailure(file, t.rights.name, err);
  }
}

type AsUser = <T>(fn: () => T) => T;

async function lockAndAppend(
  t: CopyTarget,
  file: string,
  inSpool: boolean,
  as: AsUser,
): Promise<true | typeof LOCK_BUSY> {
  const styles = t.settings.mailboxDeliveryLock;
  const dotlock = styles.includes('dotlock') && !isDevice(file);
  const stale = t.settings.staleLockTime;
  if (dotlock && !as(() => dotlockTry(file, stale))) return LOCK_BUSY;
  try {
    const fd = as(() => openMailbox(file, t, inSpool));
    try {
      if (!(await kernelLockTry(fd, styles))) return LOCK_BUSY;
      as(() => appendMessage(fd, t));
      return true;
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    if (dotlock) as(() => dotlockRelease(file));
  }
}

// /dev/null and other devices take no lock file beside them.
function isDevice(file: string): boolean {
  return file.startsWith('/dev/');
}

// Open without following a symlink and refuse what a user could use to
// make us write elsewhere: hard links, non-files, someone else's file.
// Only a file made here, just now, is given to the user.
function openMailbox(file: string, t: CopyTarget, inSpool: boolean): number {
  const { fd, created } = openOrCreate(file);
  try {
    if (inSpool && created) fs.fchownSync(fd, t.rights.uid, t.rights.gid);
    checkMailbox(file, fs.fstatSync(fd), t, inSpool);
    return fd;
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

function openOrCreate(file: string): { fd: number; created: boolean } {
  try {
    return { fd: fs.openSync(file, OPEN_FLAGS), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const flags = OPEN_FLAGS | fs.constants.O_CREAT | fs.constants.O_EXCL;
  return { fd: fs.openSync(file, flags, 0o600), created: true };
}

function checkMailbox(
  file: string,
  st: fs.Stats,
  t: CopyTarget,
  inSpool: boolean,
): void {
  const why = (text: string) =>
    new DeliveryFailure(
      deferred(
        '4.2.0',
        `cannot update mailbox ${file} for user ` + `${t.rights.name}. ${text}`,
      ),
    );
  if (st.isCharacterDevice()) return;
  if (!st.isFile()) throw why(`destination ${file} is not a regular file`);
  if (st.nlink > 1) throw why(`destination ${file} has ${st.nlink} links`);
  if (inSpool && st.uid !== t.rights.uid)
    throw why(`destination ${file} is not owned by recipient`);
}

// Append, fsync; on failure put the file back as it was.
function appendMessage(fd: number, t: CopyTarget): void {
  const st = fs.fstatSync(fd);
  const limit = t.settings.mailboxSizeLimit;
  const room =
    limit > 0 && st.isFile() ? Math.max(0, limit - st.size) : Infinity;
  try {
    writeMessage(fd, t.msg, { ...t.copy, ...COPY_MBOX }, room);
    if (st.isFile()) fs.fsyncSync(fd);
  } catch (err) {
    if (st.isFile()) truncateBack(fd, st.size);
    throw err;
  }
}

function truncateBack(fd: number, size: number): void {
  try {
    fs.ftruncateSync(fd, size);
    fs.fsyncSync(fd);
  } catch {
    // The write error is what the sender must hear about; keep it.
  }
}

function mboxFailure(file: string, user: string, err: unknown): Outcome {
  const why =
    `cannot update mailbox ${file} for user ${user}. ` +
    `error writing message: ${errnoText(err)}`;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EFBIG' || code === 'EDQUOT') return bounced('5.2.2', why);
  if (code === 'ENOSPC') return deferred('4.3.0', why); // the system's
  return deferred('4.2.0', why);
}
