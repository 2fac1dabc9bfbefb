// The queue directory: queue names, the tree with Postfix's owners and
// modes, hashed paths, and the life of a queue file (create with a
// unique ID, commit durably, move, remove). Used by cleanup, qmgr,
// postsuper, postqueue and `postfix start`. Owners are names only: the
// caller that runs as root applies them.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { longQueueId, queueIdHashKey, shortQueueId } from './queue_id';

export const QUEUE = {
  MAILDROP: 'maildrop',
  INCOMING: 'incoming',
  ACTIVE: 'active',
  DEFERRED: 'deferred',
  HOLD: 'hold',
  CORRUPT: 'corrupt',
  BOUNCE: 'bounce',
  DEFER: 'defer',
  TRACE: 'trace',
  FLUSH: 'flush',
  SAVED: 'saved',
} as const;

export type QueueName = (typeof QUEUE)[keyof typeof QUEUE];

export interface QueueDirSpec {
  name: string;
  owner: 'root' | 'mail_owner';
  group: 'root' | 'mail_owner' | 'setgid_group';
  mode: number;
}

// Postfix's conf/postfix-files for the queue directory. maildrop has no
// sticky bit (0730), as Debian ships it.
export const QUEUE_TREE: readonly QueueDirSpec[] = [
  { name: '.', owner: 'root', group: 'root', mode: 0o755 },
  { name: 'maildrop', owner: 'mail_owner', group: 'setgid_group', mode: 0o730 },
  { name: 'incoming', owner: 'mail_owner', group: 'mail_owner', mode: 0o700 },
  { name: 'active', owner: 'mail_owner', group: 'mail_owner', mode: 0o700 },
  { name: 'deferred', owner: 'mail_owner', group: 'mail_owner', mode: 0o700 },
  { name: 'hold', owner: 'mail_owner', group: 'mail_owner', mode: 0o700 },
  { name: 'corrupt', owner: 'mail_owner', group: 'mail_owner', mode: 0o700 },
  { name: 'bounce', owner: 'mail_owner', group: 'mail_owner', mode: 0o700 },
  { name: 'defer', owner: 'mail_owner', group: 'mail_owner', mode: 0o700 },
  { name: 'trace', owner: 'mail_owner', group: 'mail_owner', mode: 0o700 },
  { name: 'flush', owner: 'mail_owner', group: 'mail_owner', mode: 0o700 },
  { name: 'saved', owner: 'mail_owner', group: 'mail_owner', mode: 0o700 },
  { name: 'public', owner: 'mail_owner', group: 'setgid_group', mode: 0o710 },
  { name: 'private', owner: 'mail_owner', group: 'mail_owner', mode: 0o700 },
  { name: 'pid', owner: 'root', group: 'root', mode: 0o755 },
];

// Owner read, write and execute, exactly: a complete queue file
// (Postfix's MAIL_QUEUE_STAT_READY). Group bits are flags (g+r flush
// after, g+x forced expiry), so only the owner bits are compared.
export const QUEUE_FILE_MODE_READY = 0o700;
export const QUEUE_FILE_MODE_OPEN = 0o600;

// What this module reads from main.cf; Config satisfies it.
export interface QueueConfig {
  list(name: string): string[];
  int(name: string): number;
  bool(name: string): boolean;
}

export interface QueueFile {
  fd: number;
  id: string;
  path: string;
}

// Make the tree with Postfix's modes; existing directories keep theirs
// unless fixModes is set (postfix start as root sets it).
export function makeQueueTree(queueDir: string, fixModes = false): void {
  for (const spec of QUEUE_TREE) {
    const dir = path.join(queueDir, spec.name);
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(dir, { recursive: true, mode: spec.mode });
      fs.chmodSync(dir, spec.mode);
    } else if (fixModes) {
      fs.chmodSync(dir, spec.mode);
    }
  }
}

function hashLevels(queueName: string, config: QueueConfig): number {
  if (!config.list('hash_queue_names').includes(queueName)) return 0;
  return config.int('hash_queue_depth');
}

// "deferred/4/4F9D62A1F3": one directory level per hashed character.
export function queuePath(
  queueDir: string,
  queueName: string,
  id: string,
  config: QueueConfig,
): string {
  const key = queueIdHashKey(id);
  const levels = Math.min(hashLevels(queueName, config), key.length);
  const parts = [queueDir, queueName];
  for (let i = 0; i < levels; i++) parts.push(key[i]);
  parts.push(id);
  return path.join(...parts);
}

export function makeQueueId(
  when: { sec: number; usec: number },
  inode: number | bigint,
  config: QueueConfig,
): string {
  if (config.bool('enable_long_queue_ids'))
    return longQueueId(when.sec, when.usec, inode);
  return shortQueueId(when.usec, inode);
}

export function nowSecUsec(): { sec: number; usec: number } {
  const ms = Date.now();
  const micro = Number(process.hrtime.bigint() / 1000n) % 1000;
  return {
    sec: Math.floor(ms / 1000),
    usec: (ms % 1000) * 1000 + micro,
  };
}

function isErrno(err: unknown, ...codes: string[]): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code !== undefined && codes.includes(code);
}

// Give the file its ID name without ever replacing another file: link()
// fails where rename() would silently clobber a live queue file. These
// metadata calls are synchronous: through the thread pool each costs
// about twenty times the CPU, and they do not wait for the disk.
export function linkNoClobber(from: string, to: string): boolean {
  for (let attempt = 0; ; attempt++) {
    try {
      fs.linkSync(from, to);
      fs.unlinkSync(from);
      return true;
    } catch (err) {
      if (isErrno(err, 'EEXIST')) return false;
      if (!isErrno(err, 'ENOENT') || attempt > 0) throw err;
      fs.mkdirSync(path.dirname(to), { recursive: true });
    }
  }
}

// Create an empty queue file, mode 0600, named by its ID. As Postfix's
// mail_queue_enter: a temporary name opened O_EXCL, the inode from
// fstat, then the ID name; another time stamp if that name is taken.
// Synchronous for the CPU cost; async for the callers that await it.
export async function createQueueFile(
  queueDir: string,
  queueName: string,
  config: QueueConfig,
): Promise<QueueFile & { time: { sec: number; usec: number } }> {
  return createQueueFileSync(queueDir, queueName, config);
}

export function createQueueFileSync(
  queueDir: string,
  queueName: string,
  config: QueueConfig,
): QueueFile & { time: { sec: number; usec: number } } {
  const dir = path.join(queueDir, queueName);
  for (;;) {
    const time = nowSecUsec();
    const temp = path.join(dir, `${time.usec}.${process.pid}.${tempSeq++}`);
    const flags =
      fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL;
    const fd = fs.openSync(temp, flags, QUEUE_FILE_MODE_OPEN);
    const id = makeQueueId(
      time,
      fs.fstatSync(fd, { bigint: true }).ino,
      config,
    );
    const where = queuePath(queueDir, queueName, id, config);
    try {
      if (linkNoClobber(temp, where)) return { fd, id, path: where, time };
      fs.unlinkSync(temp);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    fs.closeSync(fd);
  }
}

let tempSeq = 0;

// Mark the file complete and make it durable before anyone is told.
// fchmod first, then fsync, as Postfix does: the one fsync then writes
// the content and the new mode together, so a file can never be on disk
// as 0700 with content that is not. It also makes the file's name
// (created by createQueueFile, or moved by HOLD) durable on Linux's
// usual file systems: ext4 commits the name with the file (its journal,
// or without one by syncing the parent of a new entry), as do xfs and
// btrfs. Postfix relies on that and syncs no directory; so do we unless
// queue_directory_fsync (ours) asks for a directory fsync too, for a
// file system that needs it. It cost 0.06 ms of the event loop and some
// 0.05 ms of CPU per message here. Both must finish before the client
// hears 250.
// Synchronous: the fsyncs hold the event loop (0.3 ms here), where
// Node's thread pool doubled their CPU (a wake-up of a worker thread and
// one back per call: 156 against 80 us for an fdatasync, measured here).
export function commitQueueFile(
  fd: number,
  filePath: string,
  extraMode = 0,
  fsyncDirectory = false,
): void {
  fs.fchmodSync(fd, QUEUE_FILE_MODE_READY | extraMode);
  fs.fsyncSync(fd);
  if (!fsyncDirectory) return;
  const dir = fs.openSync(path.dirname(filePath), fs.constants.O_RDONLY);
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}

export function isReady(stat: fs.Stats | fs.BigIntStats): boolean {
  return stat.isFile() && (Number(stat.mode) & 0o700) === QUEUE_FILE_MODE_READY;
}

// Rename between queues (the inode, so the ID, stays). No directory
// fsync, as in Postfix: a rename is atomic, so after a crash the file is
// under one of the two names, and either is recovered (active/ goes back
// to incoming/). What was delivered is in the file itself (the D marks,
// fsynced), so a rename lost in a crash repeats no delivery.
export async function moveQueueFile(
  queueDir: string,
  id: string,
  fromQueue: string,
  toQueue: string,
  config: QueueConfig,
): Promise<string> {
  const from = queuePath(queueDir, fromQueue, id, config);
  const to = queuePath(queueDir, toQueue, id, config);
  try {
    fs.renameSync(from, to);
  } catch (err) {
    if (!isErrno(err, 'ENOENT') || !fs.existsSync(from)) throw err;
    await makeHashDir(path.dirname(to));
    fs.renameSync(from, to);
  }
  return to;
}

// A missing hashed level (deferred/4/) made by root (postsuper) belongs,
// like the queue above it, to mail_owner, or qmgr could not use it.
async function makeHashDir(dir: string): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  if (process.getuid?.() !== 0) return;
  const parent = await fs.promises.stat(path.dirname(dir));
  await fs.promises.chown(dir, parent.uid, parent.gid);
}

// Remove a queue file; false when it was already gone. No directory
// fsync: a removal lost in a crash brings back a file whose recipients
// are all marked done, which qmgr then removes again.
export async function removeQueueFile(
  queueDir: string,
  queueName: string,
  id: string,
  config: QueueConfig,
): Promise<boolean> {
  try {
    fs.unlinkSync(queuePath(queueDir, queueName, id, config));
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}
