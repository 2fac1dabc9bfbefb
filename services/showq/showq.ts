// showq(8): the stream service on public/showq that reads the queue as
// mail_owner and streams it to postqueue -p / -j and mailq, which users
// may run but which cannot read the queue themselves. Limits: no
// per-user filtering (Postfix has none either).

import * as net from 'node:net';
import { runDaemon } from '../../packages/daemon/daemon';
import { AttrStream } from '../../packages/ipc/attr';
import { msg } from '../../packages/log/log';
import { listQueue } from './showq_queue';
import { writeEnd, writeEntry } from './showq_proto';
import type { DaemonContext } from '../../packages/daemon/daemon';

async function serve(socket: net.Socket, ctx: DaemonContext): Promise<void> {
  const stream = new AttrStream(socket);
  for await (const entry of listQueue(ctx.queueDir, ctx.config))
    await writeEntry(stream, entry);
  writeEnd(stream);
  await stream.drain();
  socket.end();
}

runDaemon({
  name: 'showq',
  kind: 'stream',
  onConnection: (socket, ctx) => {
    socket.on('error', () => undefined);
    serve(socket, ctx).catch((err) => {
      msg.warn(`showq: ${(err as Error).message}`);
      socket.destroy();
    });
  },
});
