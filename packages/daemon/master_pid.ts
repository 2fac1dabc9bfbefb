// pid/master.pid: the process ID in a 32-column field, held under an
// exclusive flock for master's life, so that a second master on the same
// queue refuses to start and "postfix status" can test the lock.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as fsExt from 'fs-ext';

export interface PidLock {
  fd: number;
  file: string;
}

export class PidLockError extends Error {}

export function pidFilePath(queueDir: string): string {
  return path.join(queueDir, 'pid', 'master.pid');
}

export function acquirePidLock(queueDir: string): PidLock {
  const file = pidFilePath(queueDir);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const fd = fs.openSync(
    file,
    fs.constants.O_RDWR | fs.constants.O_CREAT,
    0o644,
  );
  try {
    fsExt.flockSync(fd, 'exnb');
  } catch (err) {
    fs.closeSync(fd);
    throw new PidLockError(
      `open lock file ${path.relative(queueDir, file)}: unable to set ` +
        `exclusive lock: ${(err as NodeJS.ErrnoException).code === 'EAGAIN' ? 'Resource temporarily unavailable' : (err as Error).message}`,
    );
  }
  fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, `${String(process.pid).padStart(32)}\n`, 0);
  fs.fsyncSync(fd);
  return { fd, file };
}

export function releasePidLock(lock: PidLock): void {
  try {
    fs.unlinkSync(lock.file);
    fs.closeSync(lock.fd);
  } catch {
    // Already gone: nothing to release.
  }
}

// The PID of a running master, or null: the pid file exists and its lock
// is held by someone.
export function runningMasterPid(queueDir: string): number | null {
  const file = pidFilePath(queueDir);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    fsExt.flockSync(fd, 'shnb');
    fsExt.flockSync(fd, 'un');
    return null;
  } catch {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isFinite(pid) && pid > 0 ? pid : null;
  } finally {
    fs.closeSync(fd);
  }
}
