// A daemon's own append-only descriptor of maillog_file, given by master
// at fork, so that the lines of a turn go to the file in one write(2)
// rather than through master. The daemon skeleton uses it. Limits: after
// "postfix logrotate" (master says so, or a stat of the path shows it)
// the daemon goes back to sending lines to master.

import * as fs from 'node:fs';

// Where master says which of the child's descriptors is the log.
export const LOG_FD_ENV = 'MAIL_LOG_FD';

// How often at most we check that maillog_file is still our file: "postfix
// logrotate" compresses the renamed file a few tenths of a second later.
// A line written after the rename, before master's 'log-reopen' or our
// stat shows it, goes to the renamed file, which "postfix logrotate"
// compresses 1 s later. XXX a daemon whose loop was blocked for longer
// than that can still write a line into the file after it was read, and
// that line is lost (Postfix's postlogd, the one writer, has no window).
const ROTATE_CHECK_MS = 50;

export class LogAppender {
  #fd: number;
  #path: string;
  #ino: number;
  #checked = Date.now();

  private constructor(fd: number, path: string, ino: number) {
    this.#fd = fd;
    this.#path = path;
    this.#ino = ino;
  }

  // The descriptor master passed, reopened close-on-exec (commands that
  // local or pipe run must not inherit the log), or null when there is
  // none or it is not maillog_file. Call before privileges are dropped.
  static fromEnv(file: string): LogAppender | null {
    const inherited = Number(process.env[LOG_FD_ENV]);
    delete process.env[LOG_FD_ENV];
    if (!Number.isInteger(inherited) || inherited < 3 || !file) return null;
    try {
      const fd = fs.openSync(`/proc/self/fd/${inherited}`, 'a');
      const ino = fs.fstatSync(fd).ino;
      if (fs.statSync(file).ino === ino) return new LogAppender(fd, file, ino);
      fs.closeSync(fd);
    } catch {
      // No /proc or no file: master carries our lines instead.
    } finally {
      closeQuietly(inherited);
    }
    return null;
  }

  // One write of whole lines with O_APPEND, so that lines of processes
  // writing at once do not mix. False when the caller must send the text
  // elsewhere: the file was rotated, or the write failed.
  write(text: string): boolean {
    if (this.#fd < 0 || this.#rotated()) return false;
    try {
      fs.writeSync(this.#fd, text);
      return true;
    } catch {
      this.close();
      return false;
    }
  }

  #rotated(): boolean {
    const now = Date.now();
    if (now - this.#checked < ROTATE_CHECK_MS) return false;
    this.#checked = now;
    try {
      if (fs.statSync(this.#path).ino === this.#ino) return false;
    } catch (err) {
      // A folder we may not search (we dropped privileges): master's
      // 'log-reopen' tells us instead. Else the file was renamed and not
      // made again yet.
      if ((err as NodeJS.ErrnoException).code === 'EACCES') return false;
    }
    this.close();
    return true;
  }

  // For good: lines go to master from now on.
  close(): void {
    if (this.#fd >= 0) closeQuietly(this.#fd);
    this.#fd = -1;
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Not open: nothing to do.
  }
}
