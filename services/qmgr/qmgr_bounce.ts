// Where qmgr hands bounce/ID, defer/ID and trace/ID to the bounce part,
// once per message pass. The default asks the bounce daemon on
// private/bounce (or private/trace) as Postfix's qmgr does; with no such
// service listening (tests, a minimal master.cf) it sends the notice
// itself. Tests may pass their own notifier.

import * as fs from 'node:fs';
import { msg } from '../../packages/log/log';
import type { QueueEnvelope } from '../../packages/queue/queue_file';
import { decodeRecords, REC } from '../../packages/queue/record';
import { QUEUE } from '../../packages/queue/mail_queue';
import type { StatusRecord } from '../../packages/queue/status_log';
import { DEL_REQ_FLAG, DSN_NOTIFY } from '../../packages/queue/delivery_trace';
import {
  readStatusLog,
  removeStatusLog,
  STATUS_LOG,
} from '../../packages/queue/status_log';
import {
  sendDelayNotice,
  sendNonDeliveryNotice,
  sendTraceNotice,
} from '../bounce/bounce_notify';
import {
  BOUNCE_CMD,
  BounceUnavailableError,
  requestBounceFlush,
} from '../bounce/bounce_service';
import type { QmgrContext } from './qmgr_defer';
import type { QmgrMessage } from './qmgr_message';

// True when the notice is safely queued (or none is due); false keeps the
// message and its bounce log for another try.
export type BounceNotifier = (
  ctx: QmgrContext,
  message: QmgrMessage,
  records: StatusRecord[],
) => Promise<boolean>;

async function flushHere(
  ctx: QmgrContext,
  message: QmgrMessage,
  records: StatusRecord[],
): Promise<boolean> {
  await sendNonDeliveryNotice(ctx.queueDir, ctx.config, message.env, records);
  return true;
}

export const notifyBounce: BounceNotifier = async (ctx, message, records) => {
  try {
    return await requestBounceFlush(ctx.queueDir, QUEUE.ACTIVE, message.id);
  } catch (err) {
    if (!(err instanceof BounceUnavailableError)) {
      msg.warn(`${message.id}: notifyBounce: ${(err as Error).message}`);
      return false;
    }
  }
  try {
    return await flushHere(ctx, message, records);
  } catch (err) {
    msg.warn(`${message.id}: notifyBounce: ${(err as Error).message}`);
    return false;
  }
};

// A delay warning for this pass's defer/ID records of pending recipients;
// true when it is queued (the W record is then cleared).
export type DelayNotifier = (
  ctx: QmgrContext,
  message: QmgrMessage,
  records: StatusRecord[],
) => Promise<boolean>;

export const notifyDelay: DelayNotifier = async (ctx, message, records) => {
  const id = message.id;
  try {
    return await requestBounceFlush(
      ctx.queueDir,
      QUEUE.ACTIVE,
      id,
      BOUNCE_CMD.WARN,
    );
  } catch (err) {
    if (!(err instanceof BounceUnavailableError)) {
      msg.warn(`${id}: notifyDelay: ${(err as Error).message}`);
      return false;
    }
  }
  try {
    await sendDelayNotice(ctx.queueDir, ctx.config, message.env, records);
    return true;
  } catch (err) {
    msg.warn(`${id}: notifyDelay: ${(err as Error).message}`);
    return false;
  }
};

// Postfix's qmgr asks for the trace report after each pass of a message
// sent with -v or -bv, or with a recipient that asked NOTIFY=SUCCESS; the
// trace service sends nothing when trace/ID holds no record.
function wantsTraceReport(message: QmgrMessage): number | null {
  const flags = Number(message.env.attrs.trace_flags ?? 0) || 0;
  if (flags & (DEL_REQ_FLAG.USR_VRFY | DEL_REQ_FLAG.RECORD)) return flags;
  const success = message.env.recipients.some(
    (r) => r.notifyFlags & DSN_NOTIFY.SUCCESS,
  );
  return success ? flags : null;
}

async function traceHere(
  ctx: QmgrContext,
  message: QmgrMessage,
  flags: number,
): Promise<boolean> {
  const { queueDir, config } = ctx;
  const log = STATUS_LOG.TRACE;
  const records = await readStatusLog(queueDir, log, message.id, config);
  if (!records.length) return true;
  const env = message.env;
  await sendTraceNotice(queueDir, config, env, records, flags);
  await removeStatusLog(queueDir, log, message.id, config);
  return true;
}

// Postfix's qmgr_message_kill_record: once the report of a -v or -bv
// message is out, its A trace_flags record becomes K (killed), so that a
// deferred message reports its first delivery attempt only.
export async function killTraceFlags(env: QueueEnvelope): Promise<void> {
  const fh = await fs.promises.open(env.path, 'r+');
  try {
    const head = Buffer.alloc(env.messageOffset);
    await fh.read(head, 0, head.length, 0);
    const rec = decodeRecords(head).find(
      (r) =>
        r.type === REC.ATTR &&
        r.data.toString('latin1').startsWith('trace_flags='),
    );
    if (!rec) return;
    await fh.write(Buffer.from(REC.KILLED), 0, 1, rec.offset);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function requestTrace(
  ctx: QmgrContext,
  message: QmgrMessage,
  flags: number,
): Promise<boolean> {
  const id = message.id;
  try {
    const cmd = BOUNCE_CMD.TRACE;
    const q = QUEUE.ACTIVE;
    return await requestBounceFlush(ctx.queueDir, q, id, cmd, 'trace', flags);
  } catch (err) {
    if (!(err instanceof BounceUnavailableError)) {
      msg.warn(`${id}: notifyTrace: ${(err as Error).message}`);
      return false;
    }
  }
  try {
    return await traceHere(ctx, message, flags);
  } catch (err) {
    msg.warn(`${id}: notifyTrace: ${(err as Error).message}`);
    return false;
  }
}

// True when the report is queued or none is due; false keeps the message
// (deferred) so that the report is tried again.
export async function notifyTrace(
  ctx: QmgrContext,
  message: QmgrMessage,
): Promise<boolean> {
  const flags = wantsTraceReport(message);
  if (flags === null) return true;
  if (!(await requestTrace(ctx, message, flags))) return false;
  if (flags & (DEL_REQ_FLAG.USR_VRFY | DEL_REQ_FLAG.RECORD))
    await killTraceFlags(message.env).catch((err) =>
      msg.warn(`${message.id}: notifyTrace: ${(err as Error).message}`),
    );
  return true;
}
