// The watchdog's thread (see watchdog.ts): checks the shared time stamps
// every period; when late, asks the main thread to log and exit, and
// after a grace time logs through public/postlog and kills the process
// with SIGKILL, which works however stuck the main thread is.

import * as fs from 'node:fs';
import * as net from 'node:net';
import { workerData, parentPort } from 'node:worker_threads';
import { logTimestamp } from '../log/log';
import { monotonicMs, SLOT, type WatchdogThreadData } from './watchdog';

const data = workerData as WatchdogThreadData;
const slots = new Float64Array(data.shared);
let firedAt = 0;
let killing = false;

function late(now: number): boolean {
  const oldest = slots[SLOT.OLDEST];
  if (now - slots[SLOT.BEAT] > data.timeoutMs) return true;
  return oldest > 0 && now - oldest > data.timeoutMs;
}

// The last word of a process whose main thread cannot log: one line to
// master's log socket, standard error when that fails, then SIGKILL.
function killProcess(): void {
  const line = `${logTimestamp()} ${data.line}\n`;
  const kill = () => process.kill(process.pid, 'SIGKILL');
  const socket = net.connect(data.postlog);
  socket.on('error', () => {
    fs.writeSync(2, line);
    kill();
  });
  socket.end(line, kill);
  setTimeout(kill, 1000);
}

function check(): void {
  const now = monotonicMs();
  if (!late(now)) return;
  if (firedAt === 0) {
    firedAt = now;
    parentPort?.postMessage('timeout');
  } else if (now - firedAt >= data.graceMs && !killing) {
    killing = true;
    killProcess();
  }
}

setInterval(check, data.periodMs);
