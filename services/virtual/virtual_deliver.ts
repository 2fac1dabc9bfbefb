// One delivery request for virtual(8): open the queue file with a shared
// lock, deliver each recipient to its mailbox with local's Maildir and
// mbox writers (Return-Path:, X-Original-To:, Delivered-To:), mark it
// done once durable, and give qmgr one result per recipient.

import * as fs from 'node:fs';
import {
  logDelivery,
  type DeliveryRecipient,
  type DeliveryRequest,
  type RecipientResult,
} from '../../packages/queue/delivery';
import {
  markRecipientDone,
  openFdForDelivery,
} from '../../packages/queue/queue_file';
import { msg } from '../../packages/log/log';
import { requestMessage } from '../local/local_content';
import { deliverMbox } from '../local/local_mailbox';
import {
  deliverMaildir,
  forgetMaildirMarkers,
  maildirKey,
  releaseMaildirMarkers,
  type CopyTarget,
} from '../local/local_maildir';
import {
  bounced,
  deferred,
  type LocalMessage,
  type LocalSettings,
  type Outcome,
} from '../local/local_state';
import { findMailbox, type VirtualTables } from './virtual_mailbox';

export interface VirtualDeps {
  tables: VirtualTables;
  settings: LocalSettings; // the writers' limits and locks
}

const ACTION = {
  sent: 'delivered',
  deferred: 'delayed',
  bounced: 'failed',
} as const;

export async function deliverVirtualRequest(
  deps: VirtualDeps,
  req: DeliveryRequest,
  queueFile: string,
): Promise<RecipientResult[]> {
  let fd: number;
  try {
    fd = await openFdForDelivery(queueFile);
  } catch (err) {
    msg.warn(`${req.queueId}: open queue file ${queueFile}: ${errText(err)}`);
    return req.recipients.map((r) => finishFailed(req, r, readError()));
  }
  try {
    const message = requestMessage(req, fd);
    const results: RecipientResult[] = [];
    for (const rcpt of req.recipients) {
      const outcome = await deliverOne(deps, message, rcpt);
      results.push(await finish(req, fd, rcpt, outcome));
    }
    return results;
  } catch (err) {
    msg.warn(`${req.queueId}: read queue file: ${errText(err)}`);
    return req.recipients.map((r) => finishFailed(req, r, readError()));
  } finally {
    fs.closeSync(fd);
  }
}

function readError(): Outcome {
  return deferred('4.3.0', 'error reading message file');
}

// A Delivered-To: naming this recipient means the mail came back to us:
// bounce it, as Postfix's virtual does, rather than loop.
async function deliverOne(
  deps: VirtualDeps,
  message: LocalMessage,
  rcpt: DeliveryRecipient,
): Promise<Outcome> {
  const address = rcpt.recipient;
  if (message.deliveredTo.has(address.toLowerCase()))
    return bounced('5.4.6', `mail forwarding loop for ${address}`);
  const box = await findMailbox(deps.tables, address);
  if ('status' in box) return box;
  const target: CopyTarget = {
    msg: message,
    copy: {
      originalRecipient: rcpt.originalRecipient,
      deliveredTo: address.toLowerCase(),
    },
    rights: box.rights,
    settings: deps.settings,
    key: maildirKey(message, { offset: rcpt.offset }),
  };
  if (box.maildir) return deliverMaildir(target, box.path);
  return deliverMbox(target, box.path, {
    inSpool: false,
    success: 'delivered to mailbox',
  });
}

// Mark done only once the copy is durable (the writers fsync) and before
// qmgr hears of it: a crash in between repeats, never loses, the mail.
async function finish(
  req: DeliveryRequest,
  fd: number,
  rcpt: DeliveryRecipient,
  outcome: Outcome,
): Promise<RecipientResult> {
  if (outcome.status !== 'sent') {
    forgetMaildirMarkers(req.queueId, rcpt.offset);
    return finishFailed(req, rcpt, outcome);
  }
  try {
    await markRecipientDone(fd, rcpt.offset);
    releaseMaildirMarkers(req.queueId, rcpt.offset);
  } catch (err) {
    msg.warn(`${req.queueId}: mark recipient done: ${errText(err)}`);
    return finishFailed(
      req,
      rcpt,
      deferred('4.3.0', 'error writing message file'),
    );
  }
  return finishFailed(req, rcpt, outcome);
}

// Log the outcome and turn it into qmgr's result.
function finishFailed(
  req: DeliveryRequest,
  rcpt: DeliveryRecipient,
  o: Outcome,
): RecipientResult {
  logDelivery({
    request: req,
    recipient: rcpt,
    relay: 'virtual',
    dsn: o.dsn,
    status: o.status,
    reason: o.reason,
  });
  return {
    offset: rcpt.offset,
    status: o.dsn,
    action: ACTION[o.status],
    reason: o.reason,
  };
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
