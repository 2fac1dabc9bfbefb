// The daemon_timeout watchdog of the daemon skeleton: a worker thread,
// with an event loop of its own, kills the process when one client has
// been served for longer than daemon_timeout or when the main thread has
// not run for that long (a busy loop). Used by daemon.ts only.

import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { formatLine, msg } from '../log/log';

// Slots of the memory shared with the thread, in milliseconds of the
// monotonic clock, which both threads read alike and which a change of
// the wall clock does not move.
export const SLOT = { BEAT: 0, OLDEST: 1 } as const;

export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

export interface WatchdogThreadData {
  shared: SharedArrayBuffer;
  timeoutMs: number;
  periodMs: number;
  graceMs: number;
  postlog: string; // public/postlog, for the last line of a stuck process
  line: string; // that line with the time stamp left out
}

// XXX each daemon process pays about 10 MB of RSS for this thread; a
// heartbeat over the status channel that master checks would cost
// nothing per process, but master does not watch its children's time.
//
// XXX one process of ours serves many clients, and a client served too
// long takes the whole process down: the other clients' deliveries end
// too and qmgr defers them (Postfix runs one client per process).

// How long the main thread has, once told, to log and exit by itself.
const GRACE_MS = 2000;

export class Watchdog {
  #slots: Float64Array;
  #worker: Worker;
  #beat: NodeJS.Timeout;
  #started = new Map<object, number>();

  constructor(timeoutSec: number, queueDir: string) {
    const shared = new SharedArrayBuffer(16);
    this.#slots = new Float64Array(shared);
    const timeoutMs = timeoutSec * 1000;
    const periodMs = Math.max(10, Math.min(1000, timeoutMs / 4));
    this.#slots[SLOT.BEAT] = monotonicMs();
    this.#worker = startThread({
      shared,
      timeoutMs,
      periodMs,
      graceMs: GRACE_MS,
      postlog: path.join(queueDir, 'public', 'postlog'),
      line: withoutTime(formatLine('fatal: watchdog timeout')),
    });
    this.#beat = setInterval(() => this.#pat(), periodMs);
    this.#beat.unref();
  }

  #pat(): void {
    this.#slots[SLOT.BEAT] = monotonicMs();
  }

  // A client came: its time counts from now until done() for it.
  begin(client: object): void {
    this.#started.set(client, monotonicMs());
    this.#publishOldest();
  }

  done(client: object): void {
    this.#started.delete(client);
    this.#publishOldest();
  }

  // Clients are kept in the order they came, so the first is the oldest.
  #publishOldest(): void {
    const first = this.#started.values().next();
    this.#slots[SLOT.OLDEST] = first.done ? 0 : first.value;
  }

  stop(): void {
    clearInterval(this.#beat);
    void this.#worker.terminate();
  }
}

function startThread(data: WatchdogThreadData): Worker {
  const worker = new Worker(path.join(__dirname, 'watchdog_thread.js'), {
    workerData: data,
    // The thread only compares numbers; keep its heap small.
    resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1 },
    stdout: false,
    stderr: false,
  });
  worker.unref();
  worker.on('message', () => msg.fatal('watchdog timeout'));
  worker.on('error', (err) =>
    msg.warn(`watchdog: thread failed: ${err.message}`),
  );
  return worker;
}

// formatLine gives "Mon DD HH:MM:SS host tag[pid]: text"; the thread adds
// the time of its own moment.
function withoutTime(line: string): string {
  return line.slice(line.indexOf(' ', 12) + 1);
}
