// The rewrite service protocol (private/rewrite): after the greeting
// "protocol=rewrite_protocol", each request list is answered by one
// reply list, until the client closes:
//   request=rewrite rule=local|remote address=A -> flags=0 address=B
//   request=resolve sender=S address=A (also resolve_send, verify)
//     -> flags=F transport=T nexthop=N recipient=R
// flags as Postfix's resolve_clnt.h (RESOLVE_FLAG, RESOLVE_CLASS). Used by
// trivial-rewrite.ts; daemons may call packages/address directly.

import type * as net from 'node:net';
import { AttrStream, IpcError, type Attrs } from '../../packages/ipc/ipc';
import type { TableConfig } from '../../packages/tables/dict';
import {
  resolveAddress,
  rewriteAddress,
  RESOLVE_FLAG,
} from '../../packages/address/resolve';
import { msg, printable } from '../../packages/log/log';

export const REWRITE_PROTOCOL = 'rewrite_protocol';

// Reply lists; an error answer keeps the connection usable.
type Reply = Record<string, string | number>;
type Handler = (request: Attrs, config: TableConfig) => Promise<Reply>;

const HANDLERS: Record<string, Handler> = {
  rewrite: onRewrite,
  resolve: onResolve,
  resolve_send: onResolve,
  verify: onResolve,
};

async function onRewrite(request: Attrs, config: TableConfig): Promise<Reply> {
  const rule = request.rule === 'remote' ? 'remote' : 'local';
  if (request.rule !== 'local' && request.rule !== 'remote')
    msg.warn(
      `unknown rewrite rule "${printable(request.rule ?? '')}": using local`,
    );
  const address = await rewriteAddress(request.address ?? '', rule, config);
  return { flags: 0, address };
}

async function onResolve(request: Attrs, config: TableConfig): Promise<Reply> {
  const r = await resolveAddress(request.address ?? '', config);
  return {
    flags: r.flags,
    transport: r.transport,
    nexthop: r.nexthop,
    recipient: r.recipient,
  };
}

export async function handleRewriteClient(
  socket: net.Socket,
  config: TableConfig,
): Promise<void> {
  const stream = AttrStream.fromSocket(socket);
  stream.writeAttrs({ protocol: REWRITE_PROTOCOL });
  try {
    for (;;) await serveOne(stream, await stream.readAttrs(), config);
  } catch (err) {
    if (!(err instanceof IpcError)) throw err;
  } finally {
    stream.destroy();
  }
}

// An unknown request ends the connection with a warning, as Postfix's
// trivial-rewrite does; a failed lookup is answered with FAIL set.
async function serveOne(
  stream: AttrStream,
  request: Attrs,
  config: TableConfig,
): Promise<void> {
  const handler = HANDLERS[request.request ?? ''];
  if (!handler) {
    msg.warn(`unrecognized request: "${printable(request.request ?? '')}"`);
    throw new IpcError('unrecognized request');
  }
  try {
    stream.writeAttrs(await handler(request, config));
  } catch (err) {
    msg.warn(`${request.request}: ${(err as Error).message}`);
    stream.writeAttrs({
      flags: RESOLVE_FLAG.FAIL,
      transport: '',
      nexthop: '',
      recipient: '',
      address: '',
    });
  }
}
