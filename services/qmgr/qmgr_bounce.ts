// Where qmgr hands bounce/ID to the bounce part: one call per message
// pass whose bounce log has records. The default asks the bounce daemon
// on private/bounce for a flush, as Postfix's qmgr does; with no bounce
// service listening (tests, a minimal master.cf) it sends the notice
// itself. Tests may pass their own notifier.

import { msg } from '../../packages/log/log';
import { QUEUE } from '../../packages/queue/mail_queue';
import type { StatusRecord } from '../../packages/queue/status_log';
import {
  sendDelayNotice,
  sendNonDeliveryNotice,
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
