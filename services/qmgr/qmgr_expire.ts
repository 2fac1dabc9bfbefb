// Expiry of a message that has stayed too long (maximal_queue_lifetime,
// or bounce_queue_lifetime for mail from the null sender; 0 means try
// once) or that postsuper force-expired (group execute bit): its pending
// recipients become bounces with the reasons of this pass's defer log.

import { msg } from '../../packages/log/log';
import {
  markRecipientDone,
  type QueueEnvelope,
  type QueueRecipient,
} from '../../packages/queue/queue_file';
import {
  appendStatus,
  readStatusLog,
  STATUS_LOG,
  type StatusRecord,
} from '../../packages/queue/status_log';
import type { QmgrSettings } from './qmgr_config';
import type { QmgrContext } from './qmgr_defer';
import type { QmgrMessage } from './qmgr_message';

// S_IXGRP on a queue file: postsuper -e/-f asked for expiry.
const FORCE_EXPIRE_BIT = 0o010;

// RFC 3463 5.4.7: delivery time expired, for a recipient without a
// recorded reason.
const EXPIRED_DSN = '5.4.7';
const EXPIRED_REASON = 'delivery time expired';

// What a force-expired recipient is bounced with when it has no deferral
// reason of its own (postsuper -e before any delivery attempt).
const FORCED_DSN = '5.7.0';
const FORCED_REASON = 'message is administratively expired';

export function isForced(env: QueueEnvelope): boolean {
  return (env.stat.mode & FORCE_EXPIRE_BIT) !== 0;
}

export function isExpired(
  message: QmgrMessage,
  env: QueueEnvelope,
  settings: QmgrSettings,
  now: number,
): boolean {
  if (isForced(env)) return true;
  const lifetime = env.sender
    ? settings.maxQueueLifetime
    : settings.bounceQueueLifetime;
  return message.deferred && now - env.arrivalTime >= lifetime;
}

// A deferred status becomes a permanent one of the same detail.
function failedStatus(rec: StatusRecord | undefined): string {
  if (!rec || !/^4\./.test(rec.status)) return rec?.status || EXPIRED_DSN;
  return `5${rec.status.slice(1)}`;
}

function expiredRecord(
  rcpt: QueueRecipient,
  rec: StatusRecord | undefined,
  forced: boolean,
) {
  const fallback = forced
    ? { status: FORCED_DSN, reason: FORCED_REASON }
    : { status: EXPIRED_DSN, reason: EXPIRED_REASON };
  if (!rec) return { ...recordBase(rcpt), ...fallback, action: 'failed' };
  return {
    ...recordBase(rcpt),
    status: failedStatus(rec),
    action: 'failed',
    reason: rec.reason || fallback.reason,
  };
}

function recordBase(rcpt: QueueRecipient) {
  return {
    recipient: rcpt.recipient,
    originalRecipient: rcpt.originalRecipient,
    offset: rcpt.offset,
    dsnOrigRcpt: rcpt.dsnOrigRcpt,
    notifyFlags: rcpt.notifyFlags,
  };
}

// Each bounce record is on disk before its recipient is marked done.
export async function expireMessage(
  ctx: QmgrContext,
  message: QmgrMessage,
  env: QueueEnvelope,
): Promise<void> {
  const { queueDir, config } = ctx;
  const how = isForced(env) ? 'force-expired' : 'expired';
  msg.info(
    `${message.id}: from=<${env.sender}>, status=${how}, returned to sender`,
  );
  const log = STATUS_LOG.DEFER;
  const deferred = await readStatusLog(queueDir, log, message.id, config);
  const byOffset = new Map(deferred.map((r) => [r.offset, r]));
  for (const rcpt of env.recipients) {
    const rec = byOffset.get(rcpt.offset);
    const record = expiredRecord(rcpt, rec, isForced(env));
    await appendStatus(queueDir, STATUS_LOG.BOUNCE, message.id, record, config);
    await markRecipientDone(env.path, rcpt.offset);
  }
}
