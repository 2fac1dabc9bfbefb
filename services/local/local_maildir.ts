// Maildir delivery for local: write tmp/, fsync, link it to
// new/<sec>.V<dev>I<inode>M<usec>.<host> under Postfix's names, fsync
// new/. No From_ line and no lock are needed. Used for home_mailbox and
// spool Maildirs and for alias /dir/ targets. Unlike Postfix, a crash
// between the link and the recipient's done mark never delivers twice:
// see deliveryMarker.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { COPY_MAILDIR, writeMessage, type HeaderValues } from './local_content';
import { asUser, isRoot, leaveRest } from './local_user';
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
  // Names this copy (queue file, arrival, recipient) so that a retry
  // after a crash finds it; absent, the copy is written as Postfix does.
  key?: string;
}

// The delivery's identity: the queue ID alone is reused once a file is
// gone, the arrival time with it is not.
export function maildirKey(msg: LocalMessage, attr: { offset?: number }) {
  if (attr.offset === undefined) return undefined;
  const arrival = Math.round(msg.arrivalTime * 1e6);
  return `${msg.queueId}.${arrival}.R${attr.offset}`;
}

// Markers in tmp/ whose recipient is not yet marked done, by queue ID and
// recipient offset.
const MARKERS = new Map<string, Array<{ file: string; rights: Rights }>>();

// Markers whose recipient is marked done, not yet removed. Removing one
// takes a switch of rights, which costs more than the rest of a delivery
// (glibc signals every thread), so they go in the next delivery's switch
// to the same user, or all at once when local is idle or stops. A marker
// left by a crash only costs a name in tmp/.
const SPENT: Array<{ file: string; rights: Rights }> = [];
const SPENT_MAX = 100;

function markerSlot(queueId: string, offset: number): string {
  return `${queueId}:${offset}`;
}

// The recipient is marked done: its markers have served.
export function releaseMaildirMarkers(queueId: string, offset: number) {
  const slot = markerSlot(queueId, offset);
  SPENT.push(...(MARKERS.get(slot) ?? []));
  MARKERS.delete(slot);
  if (SPENT.length > SPENT_MAX) flushSpentMarkers();
}

// Remove every spent marker, one switch per user. Callers make sure that
// no file work of a delivery is in flight (rights apply to all threads).
export function flushSpentMarkers(): void {
  while (SPENT.length) {
    const rights = SPENT[0].rights;
    try {
      asUser(rights, () => removeSpent(rights));
    } catch {
      removeSpent(rights, false);
    }
  }
}

// Already running with rights: remove the spent markers written with
// them. A failure leaves the name in tmp/, which harms no one.
function removeSpent(rights: Rights, unlink = true): void {
  for (let i = SPENT.length - 1; i >= 0; i--) {
    const { file, rights: r } = SPENT[i];
    if (r.uid !== rights.uid || r.gid !== rights.gid) continue;
    SPENT.splice(i, 1);
    if (!unlink) continue;
    try {
      fs.unlinkSync(file);
    } catch {
      // Gone already, or out of reach now: nothing is lost either way.
    }
  }
}

// Not done (another destination deferred): the markers must stay, so
// that the retry skips the copies already made.
export function forgetMaildirMarkers(queueId: string, offset: number) {
  MARKERS.delete(markerSlot(queueId, offset));
}

// Postfix keeps the unique names parseable: '/' and ':' in the host name
// would break the directory or the info part. Read once, as Postfix's
// get_hostname: uname(2) per delivery is a system call for nothing.
let hostName: string | null = null;

export function maildirHost(): string {
  hostName ??= os.hostname().replace(/\//g, '\\057').replace(/:/g, '\\072');
  return hostName;
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

// Looked for with the rights local rests with (mostly it is there), made
// with root's.
function makeSpoolMaildir(dir: string, rights: Rights): void {
  if (fs.existsSync(dir) || !isRoot()) return;
  if (leaveRest() && fs.existsSync(dir)) return;
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.chownSync(dir, rights.uid, rights.gid);
}

// The directories are made when a step finds one missing, as Postfix's
// mail_copy does, not tried four times before each delivery.
function writeMaildir(t: CopyTarget, dir: string): void {
  removeSpent(t.rights);
  // Microseconds for the M part of the name; Date has only milliseconds.
  const micros = Math.floor(
    (performance.timeOrigin + performance.now()) * 1000,
  );
  const sec = Math.floor(micros / 1e6);
  const usec = micros % 1e6;
  const host = maildirHost();
  const marker = t.key ? deliveryMarker(t, dir, host) : null;
  if (marker?.done) return;
  const tmp =
    marker?.file ?? path.join(dir, 'tmp', `${sec}.P${process.pid}.${host}`);
  const fd = openTmp(dir, tmp);
  try {
    const limit = t.settings.mailboxSizeLimit || Infinity;
    writeMessage(fd, t.msg, { ...t.copy, ...COPY_MAILDIR }, limit);
    fs.fsyncSync(fd);
    const st = fs.fstatSync(fd, { bigint: true });
    const name =
      `${sec}.V${st.dev.toString(16)}I${st.ino.toString(16)}` +
      `M${usec}.${host}`;
    linkNew(dir, tmp, name);
  } catch (err) {
    removeQuietly(tmp);
    throw err;
  } finally {
    fs.closeSync(fd);
  }
  // XXX tmp/ is not fsynced: the marker's name is durable with new/'s
  // fsync only where the file system commits metadata in order (ext4,
  // xfs journals); elsewhere a crash just after could deliver twice.
  fsyncDir(path.join(dir, 'new'));
  if (!marker) removeQuietly(tmp);
}

function openTmp(dir: string, tmp: string): number {
  try {
    return fs.openSync(tmp, 'wx', 0o600);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  makeMaildirs(dir, ['tmp', 'new', 'cur']);
  return fs.openSync(tmp, 'wx', 0o600);
}

function linkNew(dir: string, tmp: string, name: string): void {
  const file = path.join(dir, 'new', name);
  try {
    return fs.linkSync(tmp, file);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  makeMaildirs(dir, ['new', 'cur']);
  fs.linkSync(tmp, file);
}

function makeMaildirs(dir: string, subs: string[]): void {
  for (const sub of subs)
    fs.mkdirSync(path.join(dir, sub), { recursive: true, mode: 0o700 });
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

// unlink(2) alone, where rmSync would lstat first.
function removeQuietly(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // Gone already: what matters is that it is not there.
  }
}

// The tmp/ name of a keyed copy stays until the recipient is marked done
// in the queue file. A second link count means the copy reached new/ on
// an earlier try that crashed before the mark: deliver nothing again.
// One link means that try died while writing: start over.
function deliveryMarker(t: CopyTarget, dir: string, host: string) {
  const file = path.join(dir, 'tmp', `${t.key}.${host}`);
  // Most deliveries are first tries: no marker, and no exception made.
  const st = fs.statSync(file, { throwIfNoEntry: false });
  const done = st !== undefined && st.nlink >= 2;
  if (st && !done) removeQuietly(file);
  const slot = markerSlot(t.msg.queueId, Number(t.key!.split('.R').pop()));
  const list = MARKERS.get(slot) ?? [];
  list.push({ file, rights: t.rights });
  MARKERS.set(slot, list);
  return { file, done };
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

// A full mailbox or quota is the user's problem and bounces as in
// Postfix (5.2.2); a full file system is the system's (4.3.0), and it and
// any other failure defer.
function maildirFailure(err: unknown): Outcome {
  const why = `maildir delivery failed: ${errnoText(err)}`;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EFBIG' || code === 'EDQUOT') return bounced('5.2.2', why);
  if (code === 'ENOSPC') return deferred('4.3.0', why); // the system's
  return deferred('4.2.0', why);
}
