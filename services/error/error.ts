// The error and retry delivery agents' entry (master.cf "error unix - -
// n - 0 error" and "retry unix - - n - - error"): every recipient fails
// with the nexthop text as reason, e.g. transport_maps "x.example
// error:5.1.1 mailbox unavailable". As error it bounces; started as the
// retry service it defers instead, as Postfix's error(8) does.

import type * as net from 'node:net';
import { runDaemon, type DaemonContext } from '../../packages/daemon/daemon';
import {
  logDelivery,
  queueFileOf,
  serveDeliveryRequest,
  type DeliveryRequest,
  type RecipientResult,
} from '../../packages/queue/delivery';

export interface ErrorVerdict {
  dsn: string;
  reason: string;
}

// "5.1.1 text" gives its code; a bare text gets 5.0.0 (error) or 4.0.0
// (retry). The class follows the service, so that status and action
// agree: error always bounces (5.x.x), retry always defers (4.x.x).
export function errorVerdict(nexthop: string, retry: boolean): ErrorVerdict {
  const m = /^([245])\.(\d{1,3})\.(\d{1,3})(?:\s+|$)(.*)$/s.exec(
    nexthop.trim(),
  );
  const text = (m ? m[4] : nexthop.trim()) || 'unknown mail transport error';
  const cls = retry ? '4' : '5';
  const dsn = m ? `${cls}.${m[2]}.${m[3]}` : `${cls}.0.0`;
  return { dsn, reason: text };
}

export function errorResults(
  req: DeliveryRequest,
  retry: boolean,
): RecipientResult[] {
  const v = errorVerdict(req.nexthop, retry);
  return req.recipients.map((rcpt) => {
    logDelivery({
      request: req,
      recipient: rcpt,
      relay: 'none',
      dsn: v.dsn,
      status: retry ? 'deferred' : 'bounced',
      reason: v.reason,
    });
    const action = retry ? 'delayed' : 'failed';
    return { offset: rcpt.offset, status: v.dsn, action, reason: v.reason };
  });
}

export async function serveConnection(
  socket: net.Socket,
  ctx: DaemonContext,
): Promise<void> {
  const retry = ctx.serviceName === 'retry';
  await serveDeliveryRequest(socket, queueFileOf(ctx), async (req) => ({
    results: errorResults(req, retry),
  }));
}

if (require.main === module)
  runDaemon({
    name: 'error',
    kind: 'stream',
    onConnection: (socket, ctx) => void serveConnection(socket, ctx),
  });
