// The flush protocol server: one attribute list per connection, request=
// add (site, queue_id), send_site (site), send_file (queue_id), refresh
// or purge, answered with status= (FLUSH_STAT). master's wakeup writes
// bare trigger bytes instead, which Postfix's flush takes as refresh.
// Used by flush.ts; tests attach it to a socket of their own.

import type * as net from 'node:net';
import { AttrStream } from '../../packages/ipc/ipc';
import { msg } from '../../packages/log/log';
import { FLUSH_STAT, FlushService } from './flush_service';

type Request = Record<string, string>;
type Handler = (flush: FlushService, req: Request) => Promise<number>;

const HANDLERS: Record<string, Handler> = {
  add: (f, r) => f.add(r.site, r.queue_id),
  send_site: (f, r) => f.sendSite(r.site),
  send_file: (f, r) => f.sendFile(r.queue_id),
  refresh: (f) => f.refresh(),
  purge: (f) => f.purge(),
};

async function answer(flush: FlushService, req: Request): Promise<number> {
  const handler = HANDLERS[req.request ?? ''];
  if (!handler) {
    msg.warn(`flush: unknown request: ${req.request ?? '(none)'}`);
    return FLUSH_STAT.BAD;
  }
  try {
    return await handler(flush, req);
  } catch (err) {
    msg.warn(`flush: ${req.request}: ${(err as Error).message}`);
    return FLUSH_STAT.FAIL;
  }
}

// Never throws: a client that goes away or sends junk only ends its
// own connection.
export async function serveFlush(
  socket: net.Socket,
  flush: FlushService,
  timeoutMs = 3_600_000,
): Promise<void> {
  const stream = AttrStream.fromSocket(socket);
  socket.setTimeout(timeoutMs, () => socket.destroy());
  let req: Request;
  try {
    req = await stream.readAttrs();
  } catch {
    // A trigger (master's wakeup): bytes and close, no attributes.
    await flush.refresh().catch(() => undefined);
    return stream.destroy();
  }
  const status = await answer(flush, req);
  stream.writeAttrs({ status });
  await stream.drain().catch(() => undefined);
  stream.close();
}
