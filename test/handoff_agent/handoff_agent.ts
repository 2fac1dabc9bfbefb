// A daemon for test/master_handoff_test.ts, listed in its master.cf: it
// greets each client with one line ("hello <pid> <clients it holds>")
// and closes, after hold=<ms>; with
// crash-after=<n> a process exits on its n-th client before greeting it,
// with crash-start=<dir> it exits at its first start. Test use only: it stands
// in for a delivery agent that crashes while master hands clients over.

import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as path from 'node:path';
import { runDaemon, type DaemonContext } from '../../packages/daemon/daemon';

interface Options {
  hold: number;
  crashAfter: number; // 0: never
  crashStart: string; // the folder of the mark; '': never
}

function parseOptions(argv: string[]): Options {
  const out: Options = { hold: 0, crashAfter: 0, crashStart: '' };
  for (const arg of argv) {
    const [name, value] = arg.split('=');
    if (name === 'hold') out.hold = Number(value);
    else if (name === 'crash-after') out.crashAfter = Number(value);
    else if (name === 'crash-start') out.crashStart = value;
  }
  return out;
}

let clients = 0;
let open = 0;

// The mark says a process of this service started before: only the
// first one crashes.
function crashAtFirstStart(dir: string, ctx: DaemonContext): void {
  const mark = path.join(dir, `${ctx.serviceName}.started`);
  if (fs.existsSync(mark)) return;
  fs.writeFileSync(mark, `${process.pid}\n`);
  process.exit(1);
}

function serve(socket: net.Socket, ctx: DaemonContext): void {
  const options = parseOptions(ctx.argv);
  clients++;
  if (options.crashAfter && clients >= options.crashAfter) process.exit(1);
  open++;
  socket.once('close', () => open--);
  socket.on('error', () => undefined);
  // At once when there is no hold, so that a crash on the next client
  // closes that one only.
  const greet = () => socket.end(`hello ${process.pid} ${open}\n`);
  if (options.hold) setTimeout(greet, options.hold);
  else greet();
}

runDaemon({
  name: 'handoff_agent',
  kind: 'stream',
  init: (ctx) => {
    const dir = parseOptions(ctx.argv).crashStart;
    if (dir) crashAtFirstStart(dir, ctx);
  },
  onConnection: serve,
});
