// Master's half of the daemon_timeout watchdog: each child beats over the
// fork channel (packages/daemon/watchdog.ts) and says how soon the next
// beat is due; a child whose beat is overdue has a blocked event loop and
// is killed with SIGKILL. One per service (master_service.ts). Limit: a
// child that never beats (no skeleton) is never watched.

import type * as cp from 'node:child_process';
import { msg } from '../../packages/log/log';
import { monotonicMs } from '../../packages/daemon/watchdog';

interface Watched {
  proc: cp.ChildProcess;
  timer: NodeJS.Timeout;
  within: number;
  last: number; // monotonic time of the last beat
}

export class MasterWatchdog {
  #script: () => string; // the daemon's entry file, for the log
  #watched = new Map<number, Watched>();

  constructor(script: () => string) {
    this.#script = script;
  }

  // A beat from that child: its clock starts again.
  beat(proc: cp.ChildProcess, within: number): void {
    const pid = proc.pid;
    if (!pid || !(within > 0)) return;
    const old = this.#watched.get(pid);
    if (old && old.within === within) {
      old.last = monotonicMs();
      old.timer.refresh();
      return;
    }
    if (old) clearTimeout(old.timer);
    const timer = setTimeout(() => this.#late(pid), within);
    timer.unref();
    this.#watched.set(pid, { proc, timer, within, last: monotonicMs() });
  }

  // The child exited: nothing to watch.
  forget(pid: number): void {
    const watched = this.#watched.get(pid);
    if (watched) clearTimeout(watched.timer);
    this.#watched.delete(pid);
  }

  // Timers run before the channel is read in a turn of the loop: when
  // master itself was held up, a beat may be waiting unread. Look again
  // once the loop has read what came.
  #late(pid: number): void {
    setImmediate(() => {
      const watched = this.#watched.get(pid);
      if (!watched) return;
      if (monotonicMs() - watched.last >= watched.within)
        this.#kill(pid, watched);
      else watched.timer.refresh();
    });
  }

  #kill(pid: number, watched: Watched): void {
    this.forget(pid);
    const seconds = Math.round(watched.within / 1000);
    msg.warn(
      `process ${this.#script()} pid ${pid} watchdog timeout: no ` +
        `heartbeat for ${seconds}s -- killing`,
    );
    watched.proc.kill('SIGKILL');
  }
}
