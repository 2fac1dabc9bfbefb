// Envelope and extracted-segment records of the cleanup protocol: one
// small handler per record type, writing Postfix's order (C T
// create_time log_ident, the client's A F S records, then per recipient
// its DSN attributes, O and R). Used by cleanup_service.ts.

import { REC } from '../../packages/queue/record';
import { rewriteAddressSync } from '../../packages/address/rewrite';
import { CLEANUP_FLAG, CLEANUP_STAT } from '../../packages/ipc/cleanup_client';
import { formatSizeRecord } from './cleanup_out';
import { CleanupState, PHASE, type PendingRecipient } from './cleanup_state';
import { startContent } from './cleanup_message';
import {
  CANON_CLASS,
  canonicalize,
  expandVirtual,
  recipientMapping,
} from './cleanup_rewrite';

type Handler = (state: CleanupState, data: Buffer) => void | Promise<void>;

// XXX a refused message with more recipients than this is bounced to the
// sender for the first ones only: the list is kept in memory.
const BOUNCE_RCPT_MAX = 1000;

// Attributes cleanup takes for itself rather than storing: the uid of a
// local submission, which pickup passes for the Received: header.
// tls_received is smtpd's text for the Received: header alone; Postfix
// keeps no such record in the queue file.
const CONSUMED_ATTRS = new Set(['submit_uid', 'tls_received']);

// Attributes remembered for the Received: header and Message-ID policy.
const KEPT_ATTRS = new Set([
  'rewrite_context',
  'log_client_name',
  'log_client_address',
  'log_helo_name',
  'log_protocol_name',
  'submit_uid',
  'tls_received',
]);

const ENVELOPE_PASS = new Set<string>([
  REC.DSN_ENVID,
  REC.DSN_RET,
  REC.VERP,
  REC.PRIORITY,
  REC.INSPECTOR,
  REC.FILTER,
]);

// Envelope values are single lines: a NUL, CR or LF in one could forge
// records or headers downstream.
function hasControl(data: Buffer): boolean {
  return data.includes(0) || data.includes(10) || data.includes(13);
}

function text(data: Buffer): string {
  return data.toString('utf8');
}

function protocolError(state: CleanupState, why: string): void {
  state.fail(CLEANUP_STAT.BAD);
  state.protocolWhy ||= why;
}

// C placeholder, arrival time, create_time and log_ident open every file.
export function startEnvelope(state: CleanupState, arrival?: string): void {
  if (state.started) return;
  state.started = true;
  const now = state.createTime;
  const time = arrival ?? `${now.sec} ${now.usec}`;
  state.arrivalSec = Number(time.split(' ')[0]) || now.sec;
  state.sizeOffset = state.writer.offset;
  state.put(REC.SIZE, formatSizeRecord(ZERO_SIZE));
  state.put(REC.TIME, time);
  state.put(REC.ATTR, `create_time=${now.sec}`);
  state.put(REC.ATTR, `log_ident=${state.queueId}`);
  putWarnTime(state);
}

// delay_warning_time: qmgr sends the "Delayed Mail" notice once this
// time has passed and then sets the field to 0 in place, so it is fixed
// width ("%15ld") as in Postfix.
function putWarnTime(state: CleanupState): void {
  const delay = state.settings.delayWarningTime;
  if (delay <= 0) return;
  const when = String(state.arrivalSec + delay).padStart(15, ' ');
  state.put(REC.WARN, when);
}

const ZERO_SIZE = {
  contentSize: 0,
  dataOffset: 0,
  rcptCount: 0,
  qmgrFlags: 0,
  contentLength: 0,
  sendopts: 0,
};

function onTime(state: CleanupState, data: Buffer): void {
  if (state.started)
    return protocolError(state, 'T record after envelope start');
  if (!/^\d+ \d+$/.test(text(data)))
    return protocolError(state, 'bad T record');
  startEnvelope(state, text(data));
}

function onAttr(state: CleanupState, data: Buffer): void {
  const attr = text(data);
  const eq = attr.indexOf('=');
  if (eq <= 0 || hasControl(data)) return protocolError(state, 'bad A record');
  const name = attr.slice(0, eq);
  const value = attr.slice(eq + 1);
  if (name === 'dsn_orig_rcpt') return void (state.pending.dsnOrcpt = value);
  if (name === 'notify_flags') return void (state.pending.notify = value);
  if (KEPT_ATTRS.has(name)) state.attrs.set(name, value);
  if (!CONSUMED_ATTRS.has(name)) state.put(REC.ATTR, data);
}

async function onSender(state: CleanupState, data: Buffer): Promise<void> {
  if (state.sender !== undefined || hasControl(data))
    return protocolError(state, 'bad or second S record');
  const given = rewriteAddressSync(text(data), 'local', state.config);
  state.sender = await canonicalize(state, given, CANON_CLASS.ENVELOPE_SENDER);
  state.put(REC.SENDER, state.sender);
}

// Kept for a From: header that cleanup may add.
function onFullname(state: CleanupState, data: Buffer): void {
  if (hasControl(data)) return protocolError(state, 'bad F record');
  state.fullname = text(data);
  state.put(REC.FULLNAME, data);
}

function onOrigRecipient(state: CleanupState, data: Buffer): void {
  if (hasControl(data)) return protocolError(state, 'bad O record');
  state.pending.orcpt = text(data);
}

function onDsnOrcpt(state: CleanupState, data: Buffer): void {
  state.pending.dsnOrcpt = text(data);
}

function onDsnNotify(state: CleanupState, data: Buffer): void {
  if (!/^\d+$/.test(text(data))) return protocolError(state, 'bad n record');
  state.pending.notify = text(data);
}

// Write one recipient with what was given before it, once per address
// that canonical and virtual alias mapping make of it. Postfix's order:
// A dsn_orig_rcpt, A notify_flags, O (the recipient as given when no O
// came), R. Exact duplicates are dropped, as Postfix's cleanup does.
// Envelope addresses are first made complete (@$myorigin, .$mydomain)
// in the local context whatever the client, as Postfix's cleanup does;
// the O record keeps the recipient as given.
function onRecipient(state: CleanupState, data: Buffer): void | Promise<void> {
  if (hasControl(data)) return protocolError(state, 'bad R record');
  const given = text(data);
  const pending = state.pending;
  state.pending = {};
  const orcpt = pending.orcpt ?? given;
  const rcpt = rewriteAddressSync(given, 'local', state.config);
  if (!recipientMapping(state))
    return putRecipient(state, orcpt, rcpt, pending);
  return mapRecipient(state, orcpt, rcpt, pending);
}

async function mapRecipient(
  state: CleanupState,
  orcpt: string,
  given: string,
  pending: PendingRecipient,
): Promise<void> {
  const rcpt = await canonicalize(state, given, CANON_CLASS.ENVELOPE_RECIPIENT);
  for (const address of await expandVirtual(state, rcpt))
    putRecipient(state, orcpt, address, pending);
}

function putRecipient(
  state: CleanupState,
  orcpt: string,
  rcpt: string,
  pending: PendingRecipient,
): void {
  if (!state.isNewRecipient(orcpt, rcpt, pending)) return;
  if (pending.dsnOrcpt !== undefined)
    state.put(REC.ATTR, `dsn_orig_rcpt=${pending.dsnOrcpt}`);
  if (pending.notify !== undefined && pending.notify !== '0')
    state.put(REC.ATTR, `notify_flags=${pending.notify}`);
  state.put(REC.ORCP, orcpt);
  state.recipientOffsets.push(state.writer.offset);
  state.put(REC.RCPT, rcpt);
  state.rcptCount++;
  state.firstRcpt ??= orcpt;
  if (state.flags & CLEANUP_FLAG.BOUNCE && state.rcptCount <= BOUNCE_RCPT_MAX)
    state.bounceRecipients.push({ recipient: rcpt, original: orcpt });
}

function onPass(state: CleanupState, type: string, data: Buffer): void {
  if (hasControl(data)) return protocolError(state, `bad ${type} record`);
  state.put(type, data);
}

// Flags a client learns of after it opened the file (smtpd's access
// HOLD and DISCARD): only those two may be added, as in Postfix.
const EXTRA_FLAGS = CLEANUP_FLAG.HOLD | CLEANUP_FLAG.DISCARD;

function onFlags(state: CleanupState, data: Buffer): void {
  if (!/^\d+$/.test(text(data))) return protocolError(state, 'bad f record');
  state.flags |= Number(text(data)) & EXTRA_FLAGS;
}

// smtpd's access REDIRECT. XXX Postfix keeps the > record for qmgr to
// apply; our qmgr has none, so it is carried out here as header_checks
// REDIRECT is (cleanup_service.ts putRedirect) and not stored.
function onRedirect(state: CleanupState, data: Buffer): void {
  if (hasControl(data) || !text(data).includes('@'))
    return protocolError(state, 'bad > record');
  state.redirect = rewriteAddressSync(text(data), 'local', state.config);
}

function onMessage(state: CleanupState): void {
  if (state.sender === undefined)
    return protocolError(state, 'no sender before M record');
  state.put(REC.MESG);
  state.dataOffset = state.writer.offset;
  state.phase = PHASE.CONTENT;
  startContent(state);
}

const ENVELOPE_HANDLERS: Record<string, Handler> = {
  [REC.TIME]: onTime,
  [REC.ATTR]: onAttr,
  [REC.SENDER]: onSender,
  [REC.FULLNAME]: onFullname,
  [REC.ORCP]: onOrigRecipient,
  [REC.DSN_ORCPT]: onDsnOrcpt,
  [REC.DSN_NOTIFY]: onDsnNotify,
  [REC.RCPT]: onRecipient,
  [REC.MESG]: onMessage,
  [REC.FLAGS]: onFlags,
  [REC.REDIRECT]: onRedirect,
};

export function envelopeRecord(
  state: CleanupState,
  type: string,
  data: Buffer,
): void | Promise<void> {
  if (type !== REC.TIME) startEnvelope(state);
  const handler = ENVELOPE_HANDLERS[type];
  if (handler) return handler(state, data);
  if (ENVELOPE_PASS.has(type)) return onPass(state, type, data);
  protocolError(
    state,
    `unexpected record type ${type.charCodeAt(0)} in envelope`,
  );
}

// After X: recipients that sendmail -t extracted from the headers, and
// attributes, until E. Recipients here count like envelope ones.
const EXTRACTED_HANDLERS: Record<string, Handler> = {
  [REC.ATTR]: onAttr,
  [REC.ORCP]: onOrigRecipient,
  [REC.DSN_ORCPT]: onDsnOrcpt,
  [REC.DSN_NOTIFY]: onDsnNotify,
  [REC.RCPT]: onRecipient,
};

export function extractedRecord(
  state: CleanupState,
  type: string,
  data: Buffer,
): void | Promise<void> {
  if (type === REC.END) return void (state.phase = PHASE.DONE);
  const handler = EXTRACTED_HANDLERS[type];
  if (handler) return handler(state, data);
  if (type === REC.RRTO || type === REC.ERTO) return onPass(state, type, data);
  protocolError(
    state,
    `unexpected record type ${type.charCodeAt(0)} in extracted`,
  );
}
