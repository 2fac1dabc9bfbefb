// The log writer: master appends its own lines, every command's (sent to
// public/postlog) and those daemons send over the fork channel to
// maillog_file, or to standard output under "postfix start-fg". Daemons
// forked while maillog_file is the one destination append themselves.
// Limits: no syslog; with maillog_file empty and no start-fg, lines go
// nowhere (Postfix would use syslog).

import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { LOG_FD_ENV } from '../../packages/log/log_appender';

// The writer of the running configuration, whose file descriptor children
// get at fork (see childLogOptions), and the children that got it.
let current: LogWriter | null = null;
const holders = new Set<ChildProcess>();

// Lines are gathered and written once per turn of the event loop: one
// write(2) for many lines under load, in arrival order.
export class LogWriter {
  #file: string;
  #fd: number | null = null;
  #stdout: boolean;
  #pending: string[] = [];
  #scheduled = false;

  constructor(file: string, stdout: boolean) {
    this.#file = file.startsWith('/dev/stdout') ? '' : file;
    this.#stdout = stdout || file === '/dev/stdout';
    this.#open();
    current = this;
  }

  // The descriptor children may append to themselves: only a file that is
  // the one destination (under start-fg, lines also go to standard output).
  get childFd(): number | null {
    return this.#stdout ? null : this.#fd;
  }

  #open(): void {
    if (!this.#file) return;
    try {
      this.#fd = fs.openSync(this.#file, 'a', 0o644);
    } catch (err) {
      this.#fd = null;
      process.stderr.write(
        `postfix/master: warning: open ${this.#file}: ${(err as Error).message}\n`,
      );
    }
  }

  // On reload, before the writer of the new configuration takes over.
  close(): void {
    this.flush();
    if (this.#fd !== null) fs.closeSync(this.#fd);
    this.#fd = null;
  }

  // After "postfix logrotate" renamed the file. Children holding the old
  // one send their lines to us from now on.
  reopen(): void {
    this.flush();
    if (this.#fd !== null) fs.closeSync(this.#fd);
    this.#fd = null;
    this.#open();
    for (const child of holders)
      if (child.connected) child.send({ t: 'log-reopen' }, () => undefined);
    holders.clear();
  }

  write(line: string): void {
    this.#pending.push(line.endsWith('\n') ? line : line + '\n');
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0) return;
    const text = this.#pending.join('');
    this.#pending = [];
    if (this.#stdout) process.stdout.write(text);
    if (this.#fd === null) return;
    try {
      fs.writeSync(this.#fd, text);
    } catch {
      // A full disk must not stop mail; the lines are lost, mail is not.
    }
  }
}

// public/postlog: commands write newline-ended lines; we append them.
export function servePostlog(path: string, writer: LogWriter): net.Server {
  const server = net.createServer((socket) => {
    let rest = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      const lines = (rest + text).split('\n');
      rest = lines.pop() ?? '';
      // A line over 4 KB is cut, as syslog records are bounded.
      for (const line of lines) if (line) writer.write(line.slice(0, 4096));
      if (rest.length > 4096) rest = '';
    });
    socket.on('error', () => undefined);
  });
  server.listen(path);
  return server;
}

// Fork options that give a child maillog_file as its descriptor 4, so that
// it appends its lines itself (packages/log/log_appender.ts): a message
// to master per turn costs both processes more than one write(2).
// XXX a daemon that runs as mail_owner then holds a writable descriptor
// of the log: O_APPEND keeps it from overwriting lines, but not from
// truncating the file; through master it could only add lines.
// track(child) after the fork: it is told when the file is rotated.
export function childLogOptions(): {
  stdio: Array<number>;
  env: Record<string, string>;
  track(child: ChildProcess): void;
} {
  const fd = current?.childFd ?? null;
  if (fd === null) return { stdio: [], env: {}, track: () => undefined };
  return { stdio: [fd], env: { [LOG_FD_ENV]: '4' }, track: holdLog };
}

function holdLog(child: ChildProcess): void {
  holders.add(child);
  child.once('exit', () => holders.delete(child));
}
