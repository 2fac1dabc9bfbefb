// Where qmgr hands bounce/ID to the bounce part: one call per message
// pass whose bounce log has records. The default sends a non-delivery
// notice through services/bounce in this process; tests may pass their
// own notifier. Limits: no private/bounce daemon yet (see XXX below).

import { msg } from '../../packages/log/log';
import type { StatusRecord } from '../../packages/queue/status_log';
import { sendNonDeliveryNotice } from '../bounce/bounce_notify';
import type { QmgrContext } from './qmgr_defer';
import type { QmgrMessage } from './qmgr_message';

// True when the notice is safely queued (or none is due); false keeps the
// message and its bounce log for another try.
export type BounceNotifier = (
  ctx: QmgrContext,
  message: QmgrMessage,
  records: StatusRecord[],
) => Promise<boolean>;

// XXX Postfix asks its bounce daemon over private/bounce, so the notice
// line is logged as postfix/bounce; here qmgr builds and posts the
// notice itself, so the line carries qmgr's tag.
export const notifyBounce: BounceNotifier = async (ctx, message, records) => {
  try {
    await sendNonDeliveryNotice(ctx.queueDir, ctx.config, message.env, records);
    return true;
  } catch (err) {
    msg.warn(`${message.id}: notifyBounce: ${(err as Error).message}`);
    return false;
  }
};
