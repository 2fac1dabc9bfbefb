// The text of a delivery status notice: RFC 3464 multipart/report with a
// human-readable part, a message/delivery-status part and the message
// (whole, or its headers for RET=HDRS, over bounce_size_limit, delays,
// successes and -v/-bv reports), in the shape of Postfix's (postfix.md
// 2.7). Used by bounce_notify.ts. Limits: built-in English texts only.

import { mailDate as headerDate } from '../../packages/util/mail_date';
import type { StatusRecord } from '../../packages/queue/status_log';

export interface NoticeInput {
  queueId: string;
  sender: string; // the original sender, who gets the notice
  to: string; // where the notice goes (sender, or postmaster)
  myhostname: string;
  myorigin: string;
  arrivalTime: number; // seconds
  envelopeId: string;
  records: StatusRecord[];
  content: Buffer[]; // the returned message's lines
  headersOnly: boolean;
  now: number; // seconds
  postmasterCopy: boolean;
  delay?: boolean; // a delay warning: still being retried
  kind?: NoticeKind; // default failure, or delay when delay is set
}

// Postfix's four templates: failure, delay, success (NOTIFY=SUCCESS) and
// verify (the sendmail -v and -bv reports).
export type NoticeKind = 'failure' | 'delay' | 'success' | 'verify';

function kindOf(n: NoticeInput): NoticeKind {
  return n.kind ?? (n.delay ? 'delay' : 'failure');
}

// RFC 5322 date of a time in seconds, in the local zone as Postfix's
// mail_date writes it.
export function mailDate(seconds: number): string {
  return headerDate(new Date(seconds * 1000));
}

const SUBJECTS = {
  delay: 'Delayed Mail (still being retried)',
  success: 'Successful Mail Delivery Report',
  verify: 'Mail Delivery Status Report',
} as const;

function subjectOf(n: NoticeInput): string {
  const kind = kindOf(n);
  if (kind !== 'failure') return SUBJECTS[kind];
  return n.postmasterCopy
    ? 'Postmaster Copy: Undelivered Mail'
    : 'Undelivered Mail Returned to Sender';
}

function headerLines(n: NoticeInput, boundary: string): string[] {
  const subject = subjectOf(n);
  return [
    `From: Mail Delivery System <MAILER-DAEMON@${n.myorigin}>`,
    `Subject: ${subject}`,
    `To: ${n.to}`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status;',
    `\tboundary="${boundary}"`,
    'Content-Transfer-Encoding: 8bit',
    `Date: ${mailDate(n.now)}`,
    '',
    'This is a MIME-encapsulated message.',
    '',
  ];
}

function recipientText(r: StatusRecord): string {
  const expanded =
    r.originalRecipient && r.originalRecipient !== r.recipient
      ? ` (expanded from <${r.originalRecipient}>)`
      : '';
  return `<${r.recipient}>${expanded}: ${r.reason}`;
}

const BOUNCE_TEXT = [
  'Your message could not be delivered to one or more of its',
  'recipients; the reasons are listed below, and the message itself',
  'is attached.',
];

const DELAY_TEXT = [
  'Your message has not been delivered yet to the recipients below;',
  'the mail system keeps trying and will tell you if it gives up.',
  'Nothing needs to be done now. The message headers are attached.',
];

const SUCCESS_TEXT = [
  'Your message has been delivered to the recipients listed below.',
  'Where it went into a mailbox, you will hear nothing more; where it',
  'was passed on to another system, that system may still report back.',
];

const VERIFY_TEXT = [
  'Here is the delivery report that you asked for: what the mail',
  'system did, or with sendmail -bv would do, for each recipient.',
];

const TEXTS = {
  failure: BOUNCE_TEXT,
  delay: DELAY_TEXT,
  success: SUCCESS_TEXT,
  verify: VERIFY_TEXT,
} as const;

function notificationPart(n: NoticeInput, boundary: string): string[] {
  const lines = [
    `--${boundary}`,
    'Content-Description: Notification',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `This is the mail system at host ${n.myhostname}.`,
    '',
    ...TEXTS[kindOf(n)],
    '',
    'If you need help, write to postmaster and include this report.',
    '',
    '                   The mail system',
    '',
  ];
  for (const r of n.records) lines.push(recipientText(r), '');
  return lines;
}

// Failure and delay notices say what they are; reports carry each
// record's own action (delivered, relayed, deliverable...).
function actionOf(r: StatusRecord, kind: NoticeKind): string {
  if (kind === 'failure') return 'failed';
  if (kind === 'delay') return 'delayed';
  return r.action;
}

// RFC 3464 section 2.3: per-recipient fields.
function recipientReport(r: StatusRecord, kind: NoticeKind): string[] {
  const lines = [`Final-Recipient: rfc822; ${r.recipient}`];
  const orig = r.dsnOrigRcpt.replace(/^rfc822;/i, '');
  if (orig) lines.push(`Original-Recipient: rfc822;${orig}`);
  lines.push(`Action: ${actionOf(r, kind)}`, `Status: ${r.status}`);
  if (r.mtaType) lines.push(`Remote-MTA: ${r.mtaType}; ${r.mtaMname}`);
  if (r.diagType) lines.push(`Diagnostic-Code: ${r.diagType}; ${r.diagText}`);
  else lines.push(`Diagnostic-Code: X-Postfix; ${r.reason}`);
  return [...lines, ''];
}

// RFC 3464 section 2.2: per-message fields first.
function statusPart(n: NoticeInput, boundary: string): string[] {
  const lines = [
    `--${boundary}`,
    'Content-Description: Delivery report',
    'Content-Type: message/delivery-status',
    '',
    `Reporting-MTA: dns; ${n.myhostname}`,
  ];
  if (n.envelopeId) lines.push(`Original-Envelope-Id: ${n.envelopeId}`);
  lines.push(
    `X-Postfix-Queue-ID: ${n.queueId}`,
    `X-Postfix-Sender: rfc822; ${n.sender}`,
    `Arrival-Date: ${mailDate(n.arrivalTime)}`,
    '',
  );
  for (const r of n.records) lines.push(...recipientReport(r, kindOf(n)));
  return lines;
}

const HEADERS_PART = 'text/rfc822-headers';

function returnedHead(n: NoticeInput): [string, string] {
  const kind = kindOf(n);
  if (kind === 'delay') return ['Delayed Message Headers', HEADERS_PART];
  if (kind !== 'failure') return ['Message Headers', HEADERS_PART];
  return n.headersOnly
    ? ['Undelivered Message Headers', HEADERS_PART]
    : ['Undelivered Message', 'message/rfc822'];
}

function returnedPart(n: NoticeInput, boundary: string): Buffer[] {
  const head = returnedHead(n);
  const lines = [
    `--${boundary}`,
    `Content-Description: ${head[0]}`,
    `Content-Type: ${head[1]}`,
    'Content-Transfer-Encoding: 8bit',
    '',
  ].map((l) => Buffer.from(l));
  return [...lines, ...returnedContent(n)];
}

// A line that is the boundary would end the part early; the boundary
// holds the queue ID and time, so only a hostile message has one.
function returnedContent(n: NoticeInput): Buffer[] {
  const out: Buffer[] = [];
  for (const line of n.content) {
    const whole = !n.headersOnly && kindOf(n) === 'failure';
    if (!whole && line.length === 0) break;
    out.push(line);
  }
  return out;
}

// The notice as content lines without line ends, ready for N records.
export function buildNotice(n: NoticeInput): Buffer[] {
  const boundary = `${n.queueId}.${Math.floor(n.now)}/${n.myhostname}`;
  const text = [
    ...headerLines(n, boundary),
    ...notificationPart(n, boundary),
    ...statusPart(n, boundary),
  ].map((l) => Buffer.from(l));
  return [
    ...text,
    ...returnedPart(n, boundary),
    Buffer.from(''),
    Buffer.from(`--${boundary}--`),
  ];
}
