// Message content in cleanup: the Received: header, the primary header
// block (hop count, message_drop_headers, header_size_limit, Message-ID
// logging, missing Message-ID:/Date:/From:), then the body as N and L
// records cut at line_length_limit. Headers are kept byte for byte.
// @zone-eu/mailsplit is not used: its input is a byte stream while ours
// is already one record per line, and it re-folds and re-terminates
// (CRLF) every header once one is edited, which Postfix never does.
// header_checks and body_checks run here (cleanup_checks.ts), following
// the MIME structure (cleanup_mime.ts) while they do, and header
// addresses are mapped (cleanup_headers.ts).
// Limits: no Resent- headers added.

import { msg, printable } from '../../packages/log/log';
import { REC } from '../../packages/queue/record';
import { CLEANUP_STAT } from '../../packages/ipc/cleanup_client';
import { CleanupState } from './cleanup_state';
import { mailDate } from '../../packages/util/mail_date';
import { externalize } from '../../packages/address/address';
import {
  bodyChecksActive,
  checkBody,
  checkHeader,
  mimeChecksActive,
} from './cleanup_checks';
import { MimeTracker } from './cleanup_mime';
import { rewriteHeader } from './cleanup_headers';
import {
  TLS_RECEIVED_ATTR,
  tlsReceivedLines,
} from '../../packages/tls/tls_policy';

interface Piece {
  type: string;
  data: Buffer;
}

// One physical line: L pieces then the final N.
type Line = Piece[];

interface HeaderBlock {
  lines: Line[];
  bytes: number;
  full?: boolean; // a part header past header_size_limit
}

const CONTENT_PHASE = { HEADERS: 'headers', BODY: 'body' } as const;
type ContentPhase = (typeof CONTENT_PHASE)[keyof typeof CONTENT_PHASE];

class ContentState {
  phase: ContentPhase = CONTENT_PHASE.HEADERS;
  line: Line = [];
  lineBytes = 0;
  header: HeaderBlock | null = null;
  seen = new Set<string>();
  hops = 0;
  // While checks run: the MIME structure, and the part or attached
  // message header being collected.
  mime: MimeTracker | null = null;
  part: HeaderBlock | null = null;
  midLine = false; // the last body piece was L: the line goes on
}

const contents = new WeakMap<CleanupState, ContentState>();

// RFC 5322 section 2.2: field name is printable ASCII except colon.
const HEADER_START = /^[\x21-\x39\x3b-\x7e]+[ \t]*:/;

function contentOf(state: CleanupState): ContentState {
  const content = contents.get(state);
  if (!content) throw new Error('cleanup: content record before M record');
  return content;
}

// Write one piece, cut at line_length_limit: every piece but the last
// is L, so that readers rejoin the line.
function putPiece(state: CleanupState, type: string, data: Buffer): void {
  const limit = state.settings.lineLengthLimit;
  let rest = data;
  while (rest.length > limit) {
    state.put(REC.CONT, rest.subarray(0, limit));
    rest = rest.subarray(limit);
  }
  state.put(type, rest);
}

function putLine(state: CleanupState, line: Line): void {
  for (const piece of line) putPiece(state, piece.type, piece.data);
}

function putHeaderText(state: CleanupState, textLines: string[]): void {
  for (const line of textLines) putPiece(state, REC.NORM, Buffer.from(line));
}

function isLocalSubmission(state: CleanupState): boolean {
  return state.attrs.get('rewrite_context') === 'local';
}

// Postfix's smtpd form; "for <rcpt>" only when there is one recipient,
// and the TLS comment lines when smtpd_tls_received_header sent them.
function smtpReceived(state: CleanupState, date: string): string[] {
  const a = state.attrs;
  const addr = a.get('log_client_address') ?? 'unknown';
  const name = a.get('log_client_name') ?? 'unknown';
  const helo = a.get('log_helo_name') || name;
  const proto = a.get('log_protocol_name') ?? 'SMTP';
  const by =
    `\tby ${state.settings.myhostname} (${state.settings.mailName}) ` +
    `with ${proto} id ${state.queueId}`;
  const tls = a.get(TLS_RECEIVED_ATTR);
  const first = [
    `Received: from ${helo} (${name} [${addr}])`,
    ...(tls ? tlsReceivedLines(tls) : []),
  ];
  if (state.rcptCount === 1 && state.firstRcpt !== undefined)
    return [...first, by, `\tfor <${quoted(state.firstRcpt)}>; ${date}`];
  return [...first, `${by};`, `\t${date}`];
}

// Postfix's pickup form for local submissions.
function localReceived(state: CleanupState, date: string): string[] {
  const s = state.settings;
  return [
    `Received: by ${s.myhostname} (${s.mailName}, from userid ` +
      `${state.attrs.get('submit_uid')})`,
    `\tid ${state.queueId}; ${date}`,
  ];
}

// Called on M: the Received: header goes first. smtpd is known by the
// client address it passes, pickup by the uid; other clients (bounce,
// local forwarding) pass content that already has its trace headers.
export function startContent(state: CleanupState): void {
  const content = new ContentState();
  if (mimeChecksActive(state)) content.mime = new MimeTracker();
  contents.set(state, content);
  const date = mailDate(new Date(state.arrivalSec * 1000));
  let lines: string[] | null = null;
  if (state.attrs.has('log_client_address')) lines = smtpReceived(state, date);
  else if (state.attrs.has('submit_uid')) lines = localReceived(state, date);
  if (!lines) return;
  putHeaderText(state, lines);
  countHop(state, content);
}

function countHop(state: CleanupState, content: ContentState): void {
  content.hops++;
  if (content.hops < state.settings.hopcountLimit) return;
  if (state.errs & CLEANUP_STAT.HOPS) return;
  msg.warn(`${state.queueId}: message rejected: hopcount exceeded`);
  state.fail(CLEANUP_STAT.HOPS);
}

function headerName(line: Line): string {
  const first = line[0]?.data.toString('latin1') ?? '';
  return first.slice(0, first.indexOf(':')).trim().toLowerCase();
}

function headerValue(block: HeaderBlock): string {
  const text = block.lines
    .map((line) => Buffer.concat(line.map((p) => p.data)).toString('utf8'))
    .join(' ');
  return text.slice(text.indexOf(':') + 1).trim();
}

function lineText(line: Line): string {
  return Buffer.concat(line.map((p) => p.data)).toString('utf8');
}

// A complete logical header: count and log it, run header_checks, map
// its addresses, then write what is left of it.
async function finishHeader(
  state: CleanupState,
  content: ContentState,
): Promise<void> {
  const block = content.header;
  content.header = null;
  if (!block || block.lines.length === 0) return;
  const name = headerName(block.lines[0]);
  if (name === 'received' || name === 'delivered-to') countHop(state, content);
  if (!content.seen.has(name)) logHeader(state, name, block);
  content.seen.add(name);
  if (name === 'content-type')
    content.mime?.noteContentType(headerValue(block));
  if (state.settings.dropHeaders.has(name)) return;
  const lines = block.lines.map(lineText);
  const outcome = await checkHeader(state, name, lines.join('\n'));
  putHeaderText(state, outcome.before);
  if (outcome.drop) return putHeaderText(state, outcome.instead);
  const rewritten = await rewriteHeader(state, name, lines);
  if (rewritten) return putHeaderText(state, rewritten);
  for (const line of block.lines) putLine(state, line);
}

function logHeader(
  state: CleanupState,
  name: string,
  block: HeaderBlock,
): void {
  if (name !== 'message-id' && name !== 'resent-message-id') return;
  msg.info(`${state.queueId}: ${name}=${printable(headerValue(block))}`);
}

function mayAddHeaders(state: CleanupState): boolean {
  return isLocalSubmission(state) || state.settings.alwaysAddMissing;
}

function messageId(state: CleanupState): string {
  const host = state.settings.myhostname;
  if (state.settings.longQueueIds) return `<${state.queueId}@${host}>`;
  const stamp = new Date(state.createTime.sec * 1000)
    .toISOString()
    .replace(/[-:T]/g, '')
    .slice(0, 14);
  return `<${stamp}.${state.queueId}@${host}>`;
}

// An address for a header; one that cannot be parsed goes as it is.
function quoted(address: string): string {
  try {
    return externalize(address);
  } catch {
    return address;
  }
}

// Addresses in headers are quoted as RFC 5321 wants (quote_821_local);
// XXX Postfix quotes a full name with specials ("J. Doe") and uses
// RFC 5322 quoting; neither is done here.
function fromHeader(state: CleanupState): string {
  if (!state.sender) return 'From: MAILER-DAEMON';
  const sender = quoted(state.sender);
  const fullname = state.fullname;
  return fullname ? `From: ${fullname} <${sender}>` : `From: ${sender}`;
}

// XXX Resent- headers are not looked at: Postfix adds Resent-From: etc.
// when a message has some; masquerade_domains is not done either.
// The end of the primary headers: add what is missing, as postconf(5)
// says: for local submissions always, for remote ones only with
// always_add_missing_headers.
async function endHeaders(
  state: CleanupState,
  content: ContentState,
): Promise<void> {
  await finishHeader(state, content);
  content.phase = CONTENT_PHASE.BODY;
  content.mime?.endHeaders();
  const add = mayAddHeaders(state);
  if (!content.seen.has('message-id')) {
    const id = add ? messageId(state) : '<>';
    msg.info(`${state.queueId}: message-id=${id}`);
    if (add) putHeaderText(state, [`Message-ID: ${id}`]);
  }
  if (!add) return;
  if (!content.seen.has('date'))
    putHeaderText(state, [
      `Date: ${mailDate(new Date(state.arrivalSec * 1000))}`,
    ]);
  if (!content.seen.has('from')) putHeaderText(state, [fromHeader(state)]);
}

// Keep a header line unless the header is already over
// header_size_limit: Postfix discards the excess of a long header. The
// first line is always kept, cut at the limit, so that a header never
// ends up with no line at all.
function addHeaderLine(state: CleanupState, content: ContentState): void {
  const block = content.header as HeaderBlock;
  const limit = state.settings.headerSizeLimit;
  let line = content.line;
  let size = content.lineBytes;
  if (block.lines.length === 0 && size > limit) {
    line = cutLine(line, limit);
    size = limit;
  }
  if (block.bytes + size > limit) return;
  block.lines.push(line);
  block.bytes += size;
}

// The first max bytes of a line, ended as a complete (N) line.
function cutLine(line: Line, max: number): Line {
  const out: Line = [];
  let left = max;
  for (const piece of line) {
    if (left <= 0) break;
    const data = piece.data.subarray(0, left);
    out.push({ type: piece.type, data });
    left -= data.length;
  }
  out[out.length - 1].type = REC.NORM;
  return out;
}

async function headerLine(
  state: CleanupState,
  content: ContentState,
): Promise<void> {
  const line = content.line;
  const first = line[0].data.toString('latin1');
  const folded = first.startsWith(' ') || first.startsWith('\t');
  if (folded && content.header) return addHeaderLine(state, content);
  if (HEADER_START.test(first)) {
    await finishHeader(state, content);
    content.header = { lines: [], bytes: 0 };
    return addHeaderLine(state, content);
  }
  // An empty line or the first non-header line ends the headers; either
  // belongs to the body.
  await endHeaders(state, content);
  await bodyLine(state, content, line);
}

// Collect the pieces of a header line; a line longer than the header
// size limit is cut there, since nothing past it would be kept.
function collectPiece(
  state: CleanupState,
  content: ContentState,
  piece: Piece,
): boolean {
  if (content.lineBytes <= state.settings.headerSizeLimit) {
    content.line.push(piece);
    content.lineBytes += piece.data.length;
  }
  return piece.type === REC.NORM;
}

// While checks run, each piece of a long body line is checked on its
// own, as Postfix checks each record, so that memory stays bounded; only
// a piece that starts a line can be a header or a boundary.
function bodyRecord(
  state: CleanupState,
  content: ContentState,
  piece: Piece,
): void | Promise<void> {
  const starts = !content.midLine;
  content.midLine = piece.type !== REC.NORM;
  if (!content.mime && !bodyChecksActive(state))
    return putPiece(state, piece.type, piece.data);
  if (starts) return bodyLine(state, content, [piece]);
  if (content.part) return addPartPiece(state, content.part, piece);
  return checkedBodyLine(state, [piece]);
}

// A body line is a part or attached-message header while the MIME
// structure says so; boundaries and text go to body_checks.
async function bodyLine(
  state: CleanupState,
  content: ContentState,
  line: Line,
): Promise<void> {
  const mime = content.mime;
  if (mime?.inHeaders) return partHeaderLine(state, content, line);
  mime?.bodyLine(lineText(line));
  return checkedBodyLine(state, line);
}

async function checkedBodyLine(state: CleanupState, line: Line) {
  if (!bodyChecksActive(state)) return putLine(state, line);
  const bytes = line.reduce((n, p) => n + p.data.length, 0);
  const outcome = await checkBody(state, lineText(line), bytes);
  putHeaderText(state, outcome.before);
  if (outcome.drop) return putHeaderText(state, outcome.instead);
  putLine(state, line);
}

// Headers inside the body, collected as the primary ones are (with
// header_size_limit), checked, then written.
async function partHeaderLine(
  state: CleanupState,
  content: ContentState,
  line: Line,
): Promise<void> {
  const first = line[0]?.data.toString('latin1') ?? '';
  const folded = first.startsWith(' ') || first.startsWith('\t');
  if (folded && content.part) return addPartLine(state, content.part, line);
  await finishPartHeader(state, content);
  if (HEADER_START.test(first)) {
    content.part = { lines: [], bytes: 0 };
    return addPartLine(state, content.part, line);
  }
  (content.mime as MimeTracker).endHeaders();
  if (first === '' && line.length === 1) return putLine(state, line);
  return bodyLine(state, content, line);
}

function addPartLine(state: CleanupState, part: HeaderBlock, line: Line) {
  if (part.full) return;
  part.lines.push([]);
  for (const piece of line) addPartPiece(state, part, piece);
}

// Past header_size_limit the rest of a header goes, as in the primary
// header; the line kept is closed with an N piece.
function addPartPiece(state: CleanupState, part: HeaderBlock, piece: Piece) {
  const line = part.lines[part.lines.length - 1];
  const first = part.lines.length === 1 && line.length === 0;
  if (part.full) return;
  if (
    !first &&
    part.bytes + piece.data.length > state.settings.headerSizeLimit
  ) {
    part.full = true;
    return closePartLine(line);
  }
  line.push(piece);
  part.bytes += piece.data.length;
}

function closePartLine(line: Line): void {
  const last = line[line.length - 1];
  if (last) line[line.length - 1] = { type: REC.NORM, data: last.data };
}

async function finishPartHeader(
  state: CleanupState,
  content: ContentState,
): Promise<void> {
  const block = content.part;
  content.part = null;
  if (!block || block.lines.length === 0) return;
  const mime = content.mime as MimeTracker;
  const name = headerName(block.lines[0]);
  if (name === 'content-type') mime.noteContentType(headerValue(block));
  const text = block.lines.map(lineText).join('\n');
  const outcome = await checkHeader(state, name, text, mime.headerClass);
  putHeaderText(state, outcome.before);
  if (outcome.drop) return putHeaderText(state, outcome.instead);
  for (const l of block.lines) putLine(state, l);
}

export function contentRecord(
  state: CleanupState,
  type: string,
  data: Buffer,
): void | Promise<void> {
  const content = contentOf(state);
  if (content.phase === CONTENT_PHASE.BODY)
    return bodyRecord(state, content, { type, data });
  if (!collectPiece(state, content, { type, data })) return;
  return finishLine(state, content);
}

async function finishLine(
  state: CleanupState,
  content: ContentState,
): Promise<void> {
  await headerLine(state, content);
  content.line = [];
  content.lineBytes = 0;
}

// Called on X: a message may end inside its headers, or even in the
// middle of a line (a last L piece is closed as a line).
export async function endContent(state: CleanupState): Promise<void> {
  const content = contentOf(state);
  if (content.phase === CONTENT_PHASE.BODY)
    return finishPartHeader(state, content);
  if (content.line.length > 0) {
    const last = content.line[content.line.length - 1];
    last.type = REC.NORM;
    await headerLine(state, content);
    content.line = [];
  }
  if (content.phase === CONTENT_PHASE.HEADERS) await endHeaders(state, content);
}
