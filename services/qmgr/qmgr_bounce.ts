// Where qmgr hands bounce/ID to the bounce part: one call per message
// pass whose bounce log has records. The default sends a non-delivery
// notice through services/bounce; tests may pass their own notifier.

import type { StatusRecord } from '../../packages/queue/status_log';
import type { QmgrContext } from './qmgr_defer';
import type { QmgrMessage } from './qmgr_message';

// True when the notice is safely queued (or needs none); false keeps the
// message and its bounce log for another try.
export type BounceNotifier = (
  ctx: QmgrContext,
  message: QmgrMessage,
  records: StatusRecord[],
) => Promise<boolean>;

export const notifyBounce: BounceNotifier = async () => {
  // XXX no non-delivery notice is sent yet: services/bounce is not
  // written, so the bounce records are logged by the agents and dropped.
  return true;
};
