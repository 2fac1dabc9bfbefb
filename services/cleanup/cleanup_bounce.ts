// CLEANUP_FLAG_BOUNCE (pickup sets it): a local submission that cleanup
// refuses for its content or size goes back to the sender as a
// non-delivery notice, and the client hears success, as Postfix's
// cleanup_bounce does; a temporary or protocol error is still answered.
// Used by cleanup_service.ts.

import { CLEANUP_FLAG, CLEANUP_STAT } from '../../packages/ipc/cleanup_client';
import { cleanupStatusReply } from '../../packages/ipc/cleanup_client';
import { msg } from '../../packages/log/log';
import type { StatusRecord } from '../../packages/queue/status_log';
import { sendRejectNotice } from '../bounce/bounce_notify';
import type { CleanupState } from './cleanup_state';

// Errors that say "try again" or "the client is broken": never bounced.
const NOT_BOUNCED = CLEANUP_STAT.BAD | CLEANUP_STAT.WRITE | CLEANUP_STAT.DEFER;

export function mayBounce(state: CleanupState): boolean {
  if (!(state.flags & CLEANUP_FLAG.BOUNCE)) return false;
  if (!state.failed || state.errs & NOT_BOUNCED) return false;
  return state.sender !== undefined && state.bounceRecipients.length > 0;
}

function records(state: CleanupState): StatusRecord[] {
  const reply = cleanupStatusReply(state.errs);
  const status = reply?.dsn ?? '5.0.0';
  // A header_checks or body_checks REJECT text is the reason given.
  const own = state.errs & CLEANUP_STAT.CONT ? state.reason : '';
  const reason = own || reply?.text || 'message rejected';
  return state.bounceRecipients.map((r, i) => ({
    recipient: r.recipient,
    originalRecipient: r.original === r.recipient ? '' : r.original,
    offset: i,
    dsnOrigRcpt: '',
    notifyFlags: 0,
    status,
    action: 'failed',
    diagType: '',
    diagText: '',
    mtaType: '',
    mtaMname: '',
    reason,
  }));
}

// true when the notice is queued: the message is then ours no more.
export async function bounceRejected(state: CleanupState): Promise<boolean> {
  try {
    const id = await sendRejectNotice(state.queueDir, state.config, {
      queueId: state.queueId,
      sender: state.sender ?? '',
      arrivalTime: state.arrivalSec,
      records: records(state),
    });
    return id !== null;
  } catch (err) {
    msg.warn(`${state.queueId}: bounceRejected: ${(err as Error).message}`);
    return false;
  }
}
