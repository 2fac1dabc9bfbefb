// Recipients that qmgr finishes without an agent: deferred (transport
// unavailable, dead destination, resolver failure) or bounced (bad
// address, expired). Each is written to defer/ID or bounce/ID, fsynced,
// before it counts, and logged as the agents log (relay=none).

import {
  logDelivery,
  type DeliveryStatus,
} from '../../packages/queue/delivery';
import { markRecipientDone } from '../../packages/queue/queue_file';
import type { QueueRecipient } from '../../packages/queue/queue_file';
import { appendStatus, STATUS_LOG } from '../../packages/queue/status_log';
import type { QmgrConfig } from './qmgr_config';
import type { QmgrMessage } from './qmgr_message';

export interface QmgrContext {
  queueDir: string;
  config: QmgrConfig;
}

function logQmgrDelivery(
  message: QmgrMessage,
  rcpt: QueueRecipient,
  dsn: string,
  status: DeliveryStatus,
  reason: string,
): void {
  const now = Date.now() / 1000;
  logDelivery({
    request: {
      queueId: message.id,
      arrivalTime: message.env.arrivalTime,
      activeArrival: message.activeArrival,
      agentHandoff: now,
    },
    recipient: rcpt,
    relay: 'none',
    dsn,
    status,
    reason,
    now,
  });
}

function statusInput(
  rcpt: QueueRecipient,
  dsn: string,
  action: string,
  reason: string,
) {
  return {
    recipient: rcpt.recipient,
    originalRecipient: rcpt.originalRecipient,
    offset: rcpt.offset,
    dsnOrigRcpt: rcpt.dsnOrigRcpt,
    notifyFlags: rcpt.notifyFlags,
    status: dsn,
    action,
    reason,
  };
}

export async function deferRecipient(
  ctx: QmgrContext,
  message: QmgrMessage,
  rcpt: QueueRecipient,
  dsn: string,
  reason: string,
): Promise<void> {
  const rec = statusInput(rcpt, dsn, 'delayed', reason);
  await appendStatus(
    ctx.queueDir,
    STATUS_LOG.DEFER,
    message.id,
    rec,
    ctx.config,
  );
  message.deferred = true;
  logQmgrDelivery(message, rcpt, dsn, 'deferred', reason);
}

// The bounce record is on disk before the recipient is marked done, so
// that a crash in between repeats the bounce, never loses it.
export async function bounceRecipient(
  ctx: QmgrContext,
  message: QmgrMessage,
  rcpt: QueueRecipient,
  dsn: string,
  reason: string,
  status: DeliveryStatus = 'bounced',
): Promise<void> {
  const rec = statusInput(rcpt, dsn, 'failed', reason);
  await appendStatus(
    ctx.queueDir,
    STATUS_LOG.BOUNCE,
    message.id,
    rec,
    ctx.config,
  );
  await markRecipientDone(message.env.path, rcpt.offset);
  logQmgrDelivery(message, rcpt, dsn, status, reason);
}
