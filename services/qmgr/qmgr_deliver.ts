// One delivery job: the request to private/<transport>, and the
// bookkeeping of each recipient's result (failed: bounce/ID then done;
// delayed: defer/ID; delivered: done, which the agent did already).
// Tells the scheduler how the transport and destination fared. An agent
// that dies or stops answering (its daemon_timeout watchdog) leaves its
// recipients deferred with "unknown mail transport error", as Postfix's.

import {
  deliverRequestOutcome,
  TransportUnavailableError,
  type DeliveryOutcome,
  type DeliveryRequest,
  type RecipientResult,
} from '../../packages/queue/delivery';
import { markRecipientDone } from '../../packages/queue/queue_file';
import { appendStatus, STATUS_LOG } from '../../packages/queue/status_log';
import { QUEUE } from '../../packages/queue/mail_queue';
import { msg } from '../../packages/log/log';
import { deferRecipient, type QmgrContext } from './qmgr_defer';
import { CrashIsolation } from './qmgr_isolate';
import type { QmgrJob, QmgrRecipient } from './qmgr_message';

export type JobResult =
  | { kind: 'ok' }
  | { kind: 'site'; reason: string }
  | { kind: 'unavailable' }
  | { kind: 'crashed' };

export const TRANSPORT_UNAVAILABLE = 'mail transport unavailable';
const TRANSPORT_ERROR = 'unknown mail transport error';

// The agent's own watchdog fires after daemon_timeout for a client held
// too long, and master's kills an agent whose loop is blocked at most 20 s
// after that; ours, 30 s after daemon_timeout, covers anything else.
const AGENT_GRACE_MS = 30_000;

function agentTimeoutMs(ctx: QmgrContext): number {
  return ctx.config.time('daemon_timeout') * 1000 + AGENT_GRACE_MS;
}

// Postfix's words: the agent's own fatal or panic line says what broke.
function logCrash(job: QmgrJob, text: string): void {
  msg.warn(`${job.message.id}: deliverJob: ${text}`);
  msg.warn(
    `transport ${job.transport} failure -- see a previous ` +
      'warning/fatal/panic logfile record for the problem description',
  );
}

export function buildRequest(job: QmgrJob, now: number): DeliveryRequest {
  const env = job.message.env;
  const a = env.attrs;
  return {
    flags: Number(a.trace_flags ?? 0) || 0, // sendmail -v, -bv
    queueName: QUEUE.ACTIVE,
    queueId: env.queueId,
    offset: env.dataOffset,
    size: env.contentSize,
    nexthop: job.nexthop,
    encoding: a.encoding ?? '',
    sendopts: env.sendopts,
    sender: env.sender,
    envelopeId: env.dsnEnvid,
    retFlags: env.dsnRet,
    arrivalTime: env.arrivalTime,
    activeArrival: job.message.activeArrival,
    agentHandoff: now,
    logClientName: a.log_client_name ?? '',
    logClientAddress: a.log_client_address ?? '',
    logClientPort: a.log_client_port ?? '',
    logProtocolName: a.log_protocol_name ?? '',
    logHeloName: a.log_helo_name ?? '',
    rewriteContext: a.rewrite_context ?? '',
    recipients: job.recipients.map((r) => ({
      originalRecipient: r.originalRecipient,
      recipient: r.address,
      offset: r.offset,
      dsnOrigRcpt: r.dsnOrigRcpt,
      notifyFlags: r.notifyFlags,
    })),
  };
}

async function applyResult(
  ctx: QmgrContext,
  job: QmgrJob,
  rcpt: QmgrRecipient,
  result: RecipientResult | undefined,
): Promise<void> {
  const message = job.message;
  if (!result)
    return deferRecipient(ctx, message, rcpt, '4.3.0', TRANSPORT_ERROR);
  if (result.action === 'delayed') {
    const rec = {
      ...recordOf(rcpt),
      status: result.status,
      action: 'delayed',
      reason: result.reason,
    };
    await appendStatus(
      ctx.queueDir,
      STATUS_LOG.DEFER,
      message.id,
      rec,
      ctx.config,
    );
    message.deferred = true;
    return;
  }
  if (result.action !== 'failed') {
    // delivered or relayed: the agent made its mark durable before it
    // answered (INTERNALS.md), as Postfix's agents do; reading the byte
    // again cost an open, a read and a close per recipient.
    message.pending.delete(rcpt.offset);
    return;
  }
  const rec = {
    ...recordOf(rcpt),
    status: result.status,
    action: 'failed',
    reason: result.reason,
  };
  await appendStatus(
    ctx.queueDir,
    STATUS_LOG.BOUNCE,
    message.id,
    rec,
    ctx.config,
  );
  await markRecipientDone(message.env.path, rcpt.offset);
}

function recordOf(rcpt: QmgrRecipient) {
  return {
    recipient: rcpt.recipient,
    originalRecipient: rcpt.originalRecipient,
    offset: rcpt.offset,
    dsnOrigRcpt: rcpt.dsnOrigRcpt,
    notifyFlags: rcpt.notifyFlags,
  };
}

async function applyOutcome(
  ctx: QmgrContext,
  job: QmgrJob,
  outcome: DeliveryOutcome,
): Promise<void> {
  const byOffset = new Map(outcome.results.map((r) => [r.offset, r]));
  for (const rcpt of job.recipients)
    await applyResult(ctx, job, rcpt, byOffset.get(rcpt.offset));
}

export async function deferJob(
  ctx: QmgrContext,
  job: QmgrJob,
  reason: string,
  dsn = '4.3.0',
): Promise<void> {
  for (const rcpt of job.recipients)
    await deferRecipient(ctx, job.message, rcpt, dsn, reason);
}

const isolation = new CrashIsolation();

// A job whose agent died once is retried alone on its transport, so that
// a message that crashes agents does not take other deliveries with it.
export function deliverJob(ctx: QmgrContext, job: QmgrJob): Promise<JobResult> {
  return isolation.run(
    job.transport,
    job.message.id,
    () => deliverOnce(ctx, job),
    (result) => result.kind === 'crashed',
  );
}

async function deliverOnce(ctx: QmgrContext, job: QmgrJob): Promise<JobResult> {
  const req = buildRequest(job, Date.now() / 1000);
  let outcome: DeliveryOutcome;
  try {
    outcome = await deliverRequestOutcome(
      ctx.queueDir,
      job.transport,
      req,
      agentTimeoutMs(ctx),
      ctx.config.time('qmgr_ipc_timeout') * 1000,
    );
  } catch (err) {
    const unavailable = err instanceof TransportUnavailableError;
    const text = (err as Error).message;
    if (unavailable) msg.warn(text);
    else logCrash(job, text);
    await deferJob(
      ctx,
      job,
      unavailable ? TRANSPORT_UNAVAILABLE : TRANSPORT_ERROR,
    );
    return unavailable ? { kind: 'unavailable' } : { kind: 'crashed' };
  }
  await applyOutcome(ctx, job, outcome);
  if (outcome.siteFailure)
    return { kind: 'site', reason: outcome.siteFailure.reason };
  return { kind: 'ok' };
}
