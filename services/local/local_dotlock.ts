// Mailbox locks for local delivery: the <mailbox>.lock file that mail
// readers also honour, and fcntl or flock kernel locks through fs-ext.
// local_mailbox.ts and local_file.ts take them for one delivery each.
// Known limit: the dot-lock is made with O_EXCL, which is not NFS-safe.

import * as fs from 'node:fs';
import type { LocalSettings } from './local_state';

interface FsExt {
  fcntl(
    fd: number,
    cmd: string,
    arg: number,
    callback: (err: Error | null) => void,
  ): void;
  flockSync(fd: number, flags: string): void;
  constants: Record<string, number>;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const fsExt: FsExt = require('fs-ext');

export const LOCK_BUSY = Symbol('lock busy');

// Create path.lock unless another process holds it; a lock older than
// stale_lock_time was left by a crash and is removed first.
// XXX O_EXCL create, not Postfix's link() of a unique file, so the lock
// is not safe on NFS.
export function dotlockTry(mailbox: string, staleSeconds: number): boolean {
  const lock = `${mailbox}.lock`;
  try {
    fs.closeSync(fs.openSync(lock, 'wx', 0o600));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  removeStaleLock(lock, staleSeconds);
  return false;
}

function removeStaleLock(lock: string, staleSeconds: number): void {
  try {
    const st = fs.statSync(lock);
    if (Date.now() - st.mtimeMs > staleSeconds * 1000) fs.unlinkSync(lock);
  } catch {
    // Gone meanwhile: the next attempt will take it.
  }
}

export function dotlockRelease(mailbox: string): void {
  try {
    fs.unlinkSync(`${mailbox}.lock`);
  } catch {
    // Already removed as stale by another agent; nothing to undo.
  }
}

// Take the kernel locks that mailbox_delivery_lock names on an open
// mailbox; false when another process holds one. fs-ext's fcntlSync
// passes no struct flock for F_SETLK (EFAULT), so the asynchronous call
// is used; it works on the fd, so the rights in effect do not matter.
export async function kernelLockTry(
  fd: number,
  styles: string[],
): Promise<boolean> {
  try {
    if (styles.includes('fcntl')) await fcntlWriteLock(fd);
    if (styles.includes('flock')) fsExt.flockSync(fd, 'exnb');
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EACCES' || code === 'EWOULDBLOCK')
      return false;
    throw err;
  }
}

function fcntlWriteLock(fd: number): Promise<void> {
  return new Promise((resolve, reject) =>
    fsExt.fcntl(fd, 'setlk', fsExt.constants.F_WRLCK, (err) =>
      err ? reject(err) : resolve(),
    ),
  );
}

// Run attempt until it stops answering LOCK_BUSY, deliver_lock_attempts
// times at most, deliver_lock_delay apart.
export async function withLockRetries<T>(
  settings: LocalSettings,
  attempt: () => Promise<T | typeof LOCK_BUSY>,
): Promise<T | typeof LOCK_BUSY> {
  for (let i = 0; i < settings.deliverLockAttempts; i++) {
    if (i > 0) await sleep(settings.deliverLockDelay * 1000);
    const result = await attempt();
    if (result !== LOCK_BUSY) return result;
  }
  return LOCK_BUSY;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
