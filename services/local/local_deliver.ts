// One delivery request for local: open the queue file, find its
// Delivered-To: headers, deliver each recipient through the decision in
// local_recipient.ts, mark it done once durable, and give qmgr one result
// per recipient. Used by local.ts for each qmgr connection.

import * as fs from 'node:fs';
import {
  logDelivery,
  type DeliveryRecipient,
  type DeliveryRequest,
  type RecipientResult,
} from '../../packages/queue/delivery';
import {
  markRecipientDoneSync,
  openFdForDelivery,
} from '../../packages/queue/queue_file';
import { forgetMaildirMarkers, releaseMaildirMarkers } from './local_maildir';
import { msg } from '../../packages/log/log';
import { requestMessage } from './local_content';
import { leaveRest } from './local_user';
import { deliverRecipient } from './local_recipient';
import { flushForwards } from './local_resubmit';
import {
  deferred,
  sent,
  type AliasTable,
  type DeliveryAttr,
  type LocalContext,
  type LocalMessage,
  type LocalSettings,
  type Outcome,
  type ResolvedAddress,
} from './local_state';

// What stays the same from one request to the next.
export interface LocalDeps {
  settings: LocalSettings;
  aliases: AliasTable[];
  myorigin: string;
  queueDir: string;
  resolve(address: string): Promise<ResolvedAddress>;
}

// Postfix's DEL_REQ_FLAG_MTA_VRFY and DEL_REQ_FLAG_USR_VRFY: probe only.
const DEL_REQ_FLAG_VERIFY = (1 << 8) | (1 << 9);

export async function deliverLocalRequest(
  deps: LocalDeps,
  req: DeliveryRequest,
  queueFile: string,
): Promise<RecipientResult[]> {
  // serveDeliveryRequest answers probes (sendmail -bv, verify) before
  // they reach us; should one get here all the same, it is never
  // delivered.
  if (req.flags & DEL_REQ_FLAG_VERIFY)
    return allDeferred(req, 'address verification is not supported');
  // A shared lock while we deliver, as Postfix's agents hold one: qmgr
  // will not hand this file to another agent meanwhile (after its own
  // restart, say), which would deliver the same recipients again.
  let fd: number;
  try {
    fd = await openQueueFile(queueFile);
  } catch (err) {
    msg.warn(
      `${req.queueId}: open queue file ${queueFile}: ` +
        `${(err as Error).message}`,
    );
    return allDeferred(req, 'error reading message file');
  }
  try {
    return await deliverOpen(deps, req, fd);
  } finally {
    fs.closeSync(fd);
  }
}

// The queue file is mail_owner's: the rights local rests with open it,
// and root's are asked for only when they do not.
async function openQueueFile(file: string): Promise<number> {
  try {
    return await openFdForDelivery(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' || !leaveRest()) throw err;
  }
  return openFdForDelivery(file);
}

async function deliverOpen(
  deps: LocalDeps,
  req: DeliveryRequest,
  fd: number,
): Promise<RecipientResult[]> {
  let message: LocalMessage;
  try {
    message = requestMessage(req, fd);
  } catch (err) {
    msg.warn(`${req.queueId}: read queue file: ${(err as Error).message}`);
    return allDeferred(req, 'error reading message file');
  }
  const seen = new Set<string>();
  const results: RecipientResult[] = [];
  for (const rcpt of req.recipients) {
    const outcome = await deliverOne(deps, req, message, seen, rcpt);
    results.push(finishRecipient(req, fd, rcpt, outcome));
  }
  return results;
}

async function deliverOne(
  deps: LocalDeps,
  req: DeliveryRequest,
  message: LocalMessage,
  seen: Set<string>,
  rcpt: DeliveryRecipient,
): Promise<Outcome> {
  const ctx = newContext(deps, req, message, seen);
  const attr = topAttr(req, rcpt);
  try {
    await deliverRecipient(ctx, attr);
    await flushForwards(ctx);
  } catch (err) {
    // A damaged queue file or our own bug: keep the mail, try later.
    msg.warn(
      `${req.queueId}: deliver ${rcpt.recipient}: ` +
        `${(err as Error).message}`,
    );
    ctx.record(attr, deferred('4.3.0', 'error reading message file'));
  }
  return summarize(ctx.outcomes);
}

function newContext(
  deps: LocalDeps,
  req: DeliveryRequest,
  message: LocalMessage,
  seen: Set<string>,
): LocalContext {
  const ctx: LocalContext = {
    ...deps,
    msg: message,
    seen,
    outcomes: [],
    forwards: [],
    record(attr, outcome) {
      ctx.outcomes.push(outcome);
      logDelivery({
        request: req,
        recipient: {
          recipient: attr.recipient,
          originalRecipient: attr.origRecipient,
        },
        relay: 'local',
        dsn: outcome.dsn,
        status: outcome.status,
        reason: outcome.reason,
      });
    },
  };
  return ctx;
}

function topAttr(req: DeliveryRequest, rcpt: DeliveryRecipient): DeliveryAttr {
  return {
    recipient: rcpt.recipient,
    // No O record means no X-Original-To: and no orig_to=, as in Postfix.
    origRecipient: rcpt.originalRecipient,
    delivered: rcpt.recipient,
    sender: req.sender,
    owner: '',
    level: 0,
    origin: 'recipient',
    expFrom: '',
    rights: null,
    unmatched: '',
    offset: rcpt.offset,
  };
}

// One answer for the queue file's recipient from all the destinations it
// expanded to: any deferral keeps it queued, then any bounce fails it.
export function summarize(outcomes: Outcome[]): Outcome {
  const worst =
    outcomes.find((o) => o.status === 'deferred') ??
    outcomes.find((o) => o.status === 'bounced') ??
    outcomes[0];
  return worst ?? sent('delivered');
}

const ACTION = {
  sent: 'delivered',
  deferred: 'delayed',
  bounced: 'failed',
} as const;

// Mark done only after the copy is durable (each destination fsyncs),
// and before qmgr hears of it; a crash in between repeats the delivery
// rather than losing it.
function finishRecipient(
  req: DeliveryRequest,
  fd: number,
  rcpt: DeliveryRecipient,
  outcome: Outcome,
): RecipientResult {
  const result: RecipientResult = {
    offset: rcpt.offset,
    status: outcome.dsn,
    action: ACTION[outcome.status],
    reason: outcome.reason,
  };
  if (outcome.status !== 'sent') {
    forgetMaildirMarkers(req.queueId, rcpt.offset);
    return result;
  }
  try {
    markRecipientDoneSync(fd, rcpt.offset);
    releaseMaildirMarkers(req.queueId, rcpt.offset);
  } catch (err) {
    msg.warn(`${req.queueId}: mark recipient done: ${(err as Error).message}`);
    return {
      ...result,
      status: '4.3.0',
      action: 'delayed',
      reason: 'error writing message file',
    };
  }
  return result;
}

function allDeferred(req: DeliveryRequest, reason: string): RecipientResult[] {
  return req.recipients.map((rcpt) => {
    const o = deferred('4.3.0', reason);
    logDelivery({
      request: req,
      recipient: rcpt,
      relay: 'local',
      dsn: o.dsn,
      status: o.status,
      reason: o.reason,
    });
    return { offset: rcpt.offset, status: o.dsn, action: 'delayed', reason };
  });
}
