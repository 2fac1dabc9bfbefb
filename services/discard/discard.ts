// The discard delivery agent's entry (master.cf "discard unix - - n - -
// discard"): pretends to deliver every recipient, marks it done in the
// queue file and logs the nexthop text as the reason ("discarded" when
// there is none), as Postfix's discard(8).

import type * as net from 'node:net';
import { runDaemon, type DaemonContext } from '../../packages/daemon/daemon';
import {
  logDelivery,
  queueFileOf,
  serveDeliveryRequest,
  type DeliveryRequest,
  type RecipientResult,
} from '../../packages/queue/delivery';
import { markRecipientDone } from '../../packages/queue/queue_file';

export function discardReason(nexthop: string): string {
  return nexthop.trim() || 'discarded';
}

// Each recipient is done in the file before qmgr hears of it, so a crash
// between the two repeats nothing but the log line.
export async function discardRecipients(
  req: DeliveryRequest,
  file: string,
): Promise<RecipientResult[]> {
  const reason = discardReason(req.nexthop);
  const results: RecipientResult[] = [];
  for (const rcpt of req.recipients) {
    await markRecipientDone(file, rcpt.offset);
    logDelivery({
      request: req,
      recipient: rcpt,
      relay: 'none',
      dsn: '2.0.0',
      status: 'sent',
      reason,
    });
    results.push({
      offset: rcpt.offset,
      status: '2.0.0',
      action: 'delivered',
      reason,
    });
  }
  return results;
}

export async function serveConnection(
  socket: net.Socket,
  ctx: DaemonContext,
): Promise<void> {
  await serveDeliveryRequest(socket, queueFileOf(ctx), async (req, file) => ({
    results: await discardRecipients(req, file),
  }));
}

if (require.main === module)
  runDaemon({
    name: 'discard',
    kind: 'stream',
    onConnection: (socket, ctx) => void serveConnection(socket, ctx),
  });
