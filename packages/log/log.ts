// Postfix-shaped logging for daemons and commands: "Mon DD HH:MM:SS host
// postfix/smtpd[pid]: text" with Postfix's severity words. Daemons hand
// the lines of a turn to their sink together (maillog_file or master);
// commands also print to stderr.

import * as os from 'node:os';
import * as net from 'node:net';
import * as path from 'node:path';
import { MONTHS } from '../util/mail_date';

// A sink may hold lines back (see batchedSink); flush() hands them on.
export interface LogSink {
  (line: string): void;
  flush?(): void;
}

interface LogState {
  tag: string;
  host: string;
  verbose: number;
  sinks: LogSink[];
  stderrProgram: string | null;
  onFatal: (code: number) => void;
}

const state: LogState = {
  tag: `postfix/${path.basename(process.argv[1] ?? 'node', '.js')}`,
  host: os.hostname().split('.')[0],
  verbose: 0,
  sinks: [],
  stderrProgram: null,
  onFatal: (code) => process.exit(code),
};

export interface LogOptions {
  syslogName?: string; // default "postfix"
  processName: string; // "smtpd"
  hostname?: string; // myhostname; the first label is logged
  verbose?: number;
  // Program name for standard error lines ("postconf: warning: ..."),
  // or null for daemons, which never write there.
  stderr?: string | null;
  sinks?: LogSink[];
  onFatal?: (code: number) => void;
}

export function initLog(options: LogOptions): void {
  const syslogName = options.syslogName || 'postfix';
  state.tag = `${syslogName}/${options.processName}`;
  if (options.hostname) state.host = options.hostname.split('.')[0];
  state.verbose = options.verbose ?? 0;
  state.sinks = options.sinks ?? [];
  state.stderrProgram = options.stderr ?? null;
  if (options.onFatal) state.onFatal = options.onFatal;
}

export function addLogSink(sink: LogSink): void {
  state.sinks.push(sink);
}

export function setVerbose(level: number): void {
  state.verbose = level;
}

export function logTimestamp(when = new Date()): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${MONTHS[when.getMonth()]} ${two(when.getDate())} ` +
    `${two(when.getHours())}:${two(when.getMinutes())}:` +
    `${two(when.getSeconds())}`
  );
}

export function formatLine(text: string, when = new Date()): string {
  return `${logTimestamp(when)} ${state.host} ${state.tag}[${process.pid}]: ${text}`;
}

function emit(prefix: string, text: string): void {
  const body = prefix + text;
  if (state.stderrProgram !== null)
    process.stderr.write(`${state.stderrProgram}: ${body}\n`);
  if (state.sinks.length === 0) return;
  const line = formatLine(body);
  for (const sink of state.sinks) {
    try {
      sink(line);
    } catch {
      // A broken sink must not take the caller down; stderr already has it.
    }
  }
}

// Hand on every line a sink holds back: before exit, and before a fatal
// or panic ends the process, so that its last words reach the log.
export function flushLog(): void {
  for (const sink of state.sinks) {
    try {
      sink.flush?.();
    } catch {
      // As in emit: the caller is on its way out and must get there.
    }
  }
}

// A sink that gathers the lines of one event-loop turn and hands them on
// together: under load a daemon logs several lines per turn, and each
// message to master costs a syscall on both sides.
export function batchedSink(deliver: (lines: string[]) => void): LogSink {
  let pending: string[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const lines = pending;
    pending = [];
    deliver(lines);
  };
  const sink: LogSink = (line: string) => {
    if (pending.push(line) === 1) setImmediate(flush);
  };
  sink.flush = flush;
  return sink;
}

export class FatalError extends Error {}

export const msg = {
  info(text: string): void {
    emit('', text);
  },
  warn(text: string): void {
    emit('warning: ', text);
  },
  error(text: string): void {
    emit('error: ', text);
  },
  // The environment is wrong: log, then exit so that master restarts us.
  fatal(text: string, code = 1): never {
    emit('fatal: ', text);
    flushLog();
    state.onFatal(code);
    throw new FatalError(text);
  },
  // Our own bug.
  panic(text: string): never {
    emit('panic: ', text);
    flushLog();
    state.onFatal(2);
    throw new FatalError(text);
  },
  verbose(text: string, level = 1): void {
    if (state.verbose >= level) emit('', text);
  },
  get verboseLevel(): number {
    return state.verbose;
  },
};

// Text from the network, made safe for one log line: control characters
// and non-ASCII become '?', and long text is cut.
export function printable(text: string, max = 200): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  return cut.replace(/[^\x20-\x7e]/g, '?');
}

// A sink for commands and daemons not started by master: send lines to
// the postlog socket that master serves, dropping them if it is absent.
export function postlogSink(queueDir: string): LogSink {
  let socket: net.Socket | null = null;
  let broken = false;
  return (line: string) => {
    if (broken) return;
    if (!socket) {
      socket = net.connect(path.join(queueDir, 'public', 'postlog'));
      socket.on('error', () => {
        broken = true;
      });
      socket.unref();
    }
    socket.write(line + '\n');
  };
}
