// Delivery reports on the agent side, for sendmail -v (DEL_REQ_FLAG_RECORD),
// sendmail -bv (DEL_REQ_FLAG_USR_VRFY) and RCPT NOTIFY=SUCCESS: which of a
// request's deliveries go into trace/<queue id>, the "what if" answer to
// an address probe, and the append through private/trace (bounce(8) run
// as trace). Used by serveDeliveryRequest in delivery.ts.

import type {
  AgentAnswer,
  DeliveryLogEntry,
  DeliveryRecipient,
  DeliveryRequest,
  RecipientResult,
} from './delivery';
import type { QueueConfig } from './mail_queue';
import { appendStatus, STATUS_LOG, type StatusInput } from './status_log';
import { AttrStream, connectService } from '../ipc/ipc';
import { DSN_NOTIFY } from './dsn_mask';

// Postfix's deliver_request.h bits that concern tracing.
export const DEL_REQ_FLAG = {
  MTA_VRFY: 1 << 8, // a verify(8) probe
  USR_VRFY: 1 << 9, // sendmail -bv
  RECORD: 1 << 10, // sendmail -v
} as const;

// A probe: nothing is delivered, the agent says what it would do.
export const DEL_REQ_TRACE_ONLY = DEL_REQ_FLAG.MTA_VRFY | DEL_REQ_FLAG.USR_VRFY;

export { DSN_NOTIFY };

// What the agent knows of itself: where the queue is, its parameters and
// its master.cf service name (local, smtp, relay, error...).
export interface TraceTarget {
  queueDir: string;
  config: QueueConfig & { get(name: string): string };
  service: string;
}

// The delivery log lines of each request being served, by the request
// object: agents log with the request that serveDeliveryRequest gave
// them, so they need pass nothing more (AsyncLocalStorage would do the
// same but slow every promise of the agent once used).
const deliveries = new WeakMap<object, DeliveryLogEntry[]>();

export function noteDelivery(e: DeliveryLogEntry): void {
  deliveries.get(e.request)?.push(e);
}

export function wantsTrace(req: DeliveryRequest): boolean {
  if (req.flags & DEL_REQ_FLAG.RECORD) return true;
  return req.recipients.some((r) => r.notifyFlags & DSN_NOTIFY.SUCCESS);
}

export async function collectDeliveries(
  req: DeliveryRequest,
  run: () => Promise<AgentAnswer>,
): Promise<{ answer: AgentAnswer; entries: DeliveryLogEntry[] }> {
  const entries: DeliveryLogEntry[] = [];
  deliveries.set(req, entries);
  try {
    return { answer: await run(), entries };
  } finally {
    deliveries.delete(req);
  }
}

// The request recipient a log line is about: by address, else the only
// one (local logs the addresses that an alias expanded to).
function recipientOf(
  req: DeliveryRequest,
  e: DeliveryLogEntry,
): DeliveryRecipient | undefined {
  const addr = e.recipient.recipient.toLowerCase();
  const same = req.recipients.find((r) => r.recipient.toLowerCase() === addr);
  if (same) return same;
  const orig = e.recipient.originalRecipient.toLowerCase();
  const byOrig = req.recipients.find(
    (r) => orig && r.originalRecipient.toLowerCase() === orig,
  );
  return (
    byOrig ?? (req.recipients.length === 1 ? req.recipients[0] : undefined)
  );
}

const ACTION_OF = { deferred: 'delayed', bounced: 'failed' } as const;

function actionOf(e: DeliveryLogEntry, result?: RecipientResult): string {
  if (e.status === 'sent')
    return result?.action === 'relayed' ? 'relayed' : 'delivered';
  return ACTION_OF[e.status as keyof typeof ACTION_OF] ?? e.status;
}

// Postfix's trace_append: "delivery via RELAY: " before the reason,
// unless no relay was involved.
export function traceReason(relay: string, reason: string): string {
  return relay && relay !== 'none'
    ? `delivery via ${relay}: ${reason}`
    : reason;
}

// An SMTP or LMTP peer's reply becomes Remote-MTA and Diagnostic-Code.
function peerFields(e: DeliveryLogEntry): Partial<StatusInput> {
  const host = /^([^[\s]+)\[[^\]]*\](?::\d+)?$/.exec(e.relay)?.[1];
  if (!host || !/^[245]\d\d[ -]/.test(e.reason)) return {};
  const lmtp = e.relay.includes('lmtp');
  return {
    mtaType: 'dns',
    mtaMname: host,
    diagType: lmtp ? 'lmtp' : 'smtp',
    diagText: e.reason,
  };
}

function recordOf(
  e: DeliveryLogEntry,
  rcpt: DeliveryRecipient,
  action: string,
): StatusInput {
  return {
    recipient: e.recipient.recipient,
    originalRecipient: e.recipient.originalRecipient || rcpt.originalRecipient,
    offset: rcpt.offset,
    dsnOrigRcpt: rcpt.dsnOrigRcpt,
    notifyFlags: rcpt.notifyFlags,
    status: e.dsn,
    action,
    reason: traceReason(e.relay, e.reason),
    ...peerFields(e),
  };
}

// Postfix's sent(), bounce_append() and defer_append(): with -v every
// outcome is recorded; otherwise a success when the recipient asked for
// NOTIFY=SUCCESS.
// XXX Postfix's smtp reports no success of its own to a peer that
// announced DSN (the peer got NOTIFY and reports itself); ours reports
// every relayed success, since the agent's answer does not say whether
// the peer took NOTIFY.
export function traceRecords(
  req: DeliveryRequest,
  answer: AgentAnswer,
  entries: DeliveryLogEntry[],
): StatusInput[] {
  const all = (req.flags & DEL_REQ_FLAG.RECORD) !== 0;
  const out: StatusInput[] = [];
  for (const e of entries) {
    const rcpt = recipientOf(req, e);
    if (!rcpt) continue;
    const success = e.status === 'sent';
    if (!all && !(success && rcpt.notifyFlags & DSN_NOTIFY.SUCCESS)) continue;
    const result = answer.results.find((r) => r.offset === rcpt.offset);
    out.push(recordOf(e, rcpt, actionOf(e, result)));
  }
  return out;
}

interface ProbeAnswer {
  relay: string;
  dsn: string;
  reason: string;
}

// XXX local answers from main.cf alone: it neither expands aliases nor
// .forward files nor checks that the user exists, as Postfix's local
// does in verify mode; the other agents answer without contacting the
// destination (Postfix's smtp asks the peer with MAIL and RCPT).
function probeAnswer(t: TraceTarget, req: DeliveryRequest): ProbeAnswer {
  const c = t.config;
  if (t.service === 'error')
    return { relay: 'none', dsn: '5.0.0', reason: req.nexthop || 'error' };
  if (t.service === 'retry')
    return { relay: 'none', dsn: '4.0.0', reason: req.nexthop || 'retry' };
  if (t.service !== 'local')
    return {
      relay: t.service,
      dsn: '2.0.0',
      reason: `mail for ${req.nexthop} would be sent by ${t.service}`,
    };
  const command = c.get('mailbox_command');
  const home = c.get('home_mailbox');
  const spool = c.get('mail_spool_directory');
  const maildir = home ? home.endsWith('/') : spool.endsWith('/');
  const reason = command
    ? `delivers to command: ${command}`
    : maildir
      ? 'delivers to maildir'
      : 'delivers to mailbox';
  return { relay: 'local', dsn: '2.0.0', reason };
}

export interface ProbeOutcome {
  answer: AgentAnswer; // for qmgr: every recipient is finished
  entries: DeliveryLogEntry[]; // the log lines, status=(un)deliverable
  records: StatusInput[]; // for trace/<queue id>, -bv only
}

// A probe delivers nothing. Postfix's agents report "deliverable" or
// "undeliverable" to the trace log; qmgr hears that the recipient is
// done, so that no bounce or retry follows (the report says it all).
export function answerProbe(
  t: TraceTarget,
  req: DeliveryRequest,
): ProbeOutcome {
  const p = probeAnswer(t, req);
  const ok = p.dsn.startsWith('2');
  const status = ok ? 'deliverable' : 'undeliverable';
  const out: ProbeOutcome = {
    answer: { results: [] },
    entries: [],
    records: [],
  };
  for (const rcpt of req.recipients) {
    const e: DeliveryLogEntry = { request: req, recipient: rcpt, ...p, status };
    out.entries.push(e);
    if (req.flags & DEL_REQ_FLAG.USR_VRFY)
      out.records.push(recordOf(e, rcpt, status));
    out.answer.results.push({
      offset: rcpt.offset,
      status: p.dsn,
      action: 'delivered',
      reason: p.reason,
    });
  }
  return out;
}

const BOUNCE_PROTOCOL = 'bounce_protocol';
const BOUNCE_CMD_APPEND = 0;

function appendAttrs(
  queueId: string,
  r: StatusInput,
): Record<string, string | number> {
  return {
    nrequest: BOUNCE_CMD_APPEND,
    flags: 0,
    queue_id: queueId,
    original_recipient: r.originalRecipient ?? '',
    recipient: r.recipient,
    offset: r.offset ?? 0,
    dsn_orig_rcpt: r.dsnOrigRcpt ?? '',
    notify_flags: r.notifyFlags ?? 0,
    status: r.status,
    action: r.action,
    reason: r.reason,
    diag_type: r.diagType ?? '',
    diag_text: r.diagText ?? '',
    mta_type: r.mtaType ?? '',
    mta_mname: r.mtaMname ?? '',
  };
}

async function appendThroughService(
  stream: AttrStream,
  queueId: string,
  r: StatusInput,
): Promise<void> {
  try {
    const hello = await stream.readAttrs();
    if (hello.protocol !== BOUNCE_PROTOCOL)
      throw new Error(`unexpected protocol: ${hello.protocol ?? '(none)'}`);
    stream.writeAttrs(appendAttrs(queueId, r));
    const reply = await stream.readAttrs();
    if (reply.status !== '0') throw new Error('trace service failure');
  } finally {
    stream.destroy();
  }
}

// One record per request, as Postfix's trace_append. The trace service
// writes the file as mail_owner; without one (tests, a small master.cf)
// the agent appends itself.
export async function appendTrace(
  t: Pick<TraceTarget, 'queueDir' | 'config'>,
  queueId: string,
  records: StatusInput[],
): Promise<void> {
  for (const r of records) {
    let stream: AttrStream | undefined;
    try {
      stream = await connectService(t.queueDir, 'private', 'trace', 10_000);
    } catch {
      stream = undefined;
    }
    if (stream) await appendThroughService(stream, queueId, r);
    else await appendStatus(t.queueDir, STATUS_LOG.TRACE, queueId, r, t.config);
  }
}
