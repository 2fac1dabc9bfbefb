// defer_transports (postconf(5)): recipients whose transport is listed
// are deferred by qmgr with "deferred transport", without an agent,
// unless the message is being flushed. Called once per message from
// qmgr_manager.ts after routing. Limits: "flushed" is known from the
// file itself (see isFlushed), not from the trigger that took it.

import * as fs from 'node:fs';
import type { QmgrContext } from './qmgr_defer';
import { deferRecipient } from './qmgr_defer';
import type { QmgrMessage, QmgrRecipient } from './qmgr_message';

const DEFER_DSN = '4.3.2';
const DEFER_REASON = 'deferred transport';

// Postfix's MAIL_QUEUE_STAT_UNTHROTTLE: the flush service marks a file
// it wants delivered now with group read.
const STAT_UNTHROTTLE = 0o040;

function deferredTransports(ctx: QmgrContext): Set<string> {
  return new Set(ctx.config.list('defer_transports'));
}

// XXX Postfix overrides defer_transports for every message that a
// flush request (postqueue -f, sendmail -q: the A trigger) takes; qmgr
// does not pass the trigger down to routing, so here a message counts
// as flushed when it was taken before its retry time (only a scan that
// ignores time stamps does that) or carries the flush service's
// unthrottle bit. New mail taken by a flush stays deferred.
async function isFlushed(message: QmgrMessage): Promise<boolean> {
  try {
    const st = await fs.promises.stat(message.env.path);
    if (st.mode & STAT_UNTHROTTLE) {
      // Once only, as Postfix's qmgr clears the bit when it takes a file.
      await fs.promises.chmod(message.env.path, st.mode & ~STAT_UNTHROTTLE);
      return true;
    }
    return st.mtimeMs / 1000 > message.activeArrival + 1;
  } catch {
    return false;
  }
}

// The recipients to hand to agents; the others are deferred here.
export async function applyDeferTransports(
  ctx: QmgrContext,
  message: QmgrMessage,
  routed: QmgrRecipient[],
): Promise<QmgrRecipient[]> {
  const listed = deferredTransports(ctx);
  if (listed.size === 0) return routed;
  if (!routed.some((r) => listed.has(r.transport))) return routed;
  if (await isFlushed(message)) return routed;
  const keep: QmgrRecipient[] = [];
  for (const rcpt of routed) {
    if (!listed.has(rcpt.transport)) keep.push(rcpt);
    else await deferRecipient(ctx, message, rcpt, DEFER_DSN, DEFER_REASON);
  }
  return keep;
}
