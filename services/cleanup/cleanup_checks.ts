// header_checks, mime_header_checks, nested_header_checks and
// body_checks (header_checks(5)):
// look a logical header or a body line up, then act on the result with
// one small handler per action, logging in Postfix's cleanup_act form.
// Used by cleanup_message.ts, which follows the MIME structure
// (cleanup_mime.ts).

import { DictError, Maps } from '../../packages/tables/dict';
import { rewriteAddressSync } from '../../packages/address/rewrite';
import { msg, printable } from '../../packages/log/log';
import { CLEANUP_FLAG, CLEANUP_STAT } from '../../packages/ipc/cleanup_client';
import type { CleanupConfig, CleanupState } from './cleanup_state';
import { MIME_CLASS, type MimeClass } from './cleanup_mime';

export const CHECK_CONTEXT = { HEADER: 'header', BODY: 'body' } as const;
export type CheckContext = (typeof CHECK_CONTEXT)[keyof typeof CHECK_CONTEXT];

// What to do with the line that was looked up.
export interface CheckOutcome {
  drop: boolean; // IGNORE, STRIP, REPLACE: the line goes
  before: string[]; // PREPEND text, written before the line
  instead: string[]; // REPLACE text, written in its place
}

const KEEP: CheckOutcome = Object.freeze({
  drop: false,
  before: [],
  instead: [],
});

// Postfix logs at most this much of the header or line that matched.
const LOG_CONTENT_MAX = 200;

// Postfix cleanup_strerror(CLEANUP_STAT_CONT), the default REJECT text.
const DEFAULT_REJECT = 'message content rejected';

interface CheckTables {
  header: Maps;
  mime: Maps;
  nested: Maps;
  body: Maps;
  bodySizeLimit: number;
}

const tablesByConfig = new WeakMap<CleanupConfig, CheckTables>();

function checkTables(config: CleanupConfig): CheckTables {
  let tables = tablesByConfig.get(config);
  if (!tables) {
    const open = (name: string) => new Maps(config.get(name), config, {}, name);
    tables = {
      header: open('header_checks'),
      mime: open('mime_header_checks'),
      nested: open('nested_header_checks'),
      body: open('body_checks'),
      bodySizeLimit: config.int('body_checks_size_limit'),
    };
    tablesByConfig.set(config, tables);
  }
  return tables;
}

// Per message: whether checks still run (PASS stops them) and how much
// of the body body_checks has seen.
const checkState = new WeakMap<CleanupState, { pass: boolean; body: number }>();

function progress(state: CleanupState): { pass: boolean; body: number } {
  let p = checkState.get(state);
  if (!p) checkState.set(state, (p = { pass: false, body: 0 }));
  return p;
}

// CLEANUP_FLAG_FILTER: the client asks for content inspection.
function mayCheck(state: CleanupState): boolean {
  return (
    (state.flags & CLEANUP_FLAG.FILTER) !== 0 &&
    !state.failed &&
    !progress(state).pass
  );
}

// header_checks(5): MIME-Version: and Content-*: headers anywhere go to
// mime_header_checks, other headers of the primary block to
// header_checks and those of an attached message to
// nested_header_checks. A primary MIME header is looked up once when
// mime_header_checks is the same list as header_checks (the default).
// Other headers of a multipart part are checked by no table.
function headerTable(
  config: CleanupConfig,
  name: string,
  klass: MimeClass,
): Maps | undefined {
  const tables = checkTables(config);
  const mime = name === 'mime-version' || name.startsWith('content-');
  const primary = klass === MIME_CLASS.PRIMARY;
  const same = config.get('mime_header_checks') === config.get('header_checks');
  if (mime) return primary && same ? tables.header : tables.mime;
  if (primary) return tables.header;
  if (klass === MIME_CLASS.NESTED) return tables.nested;
  return undefined;
}

// Whether cleanup must follow the MIME structure of the body.
export function mimeChecksActive(state: CleanupState): boolean {
  if (!mayCheck(state)) return false;
  const t = checkTables(state.config);
  return !t.mime.empty || !t.nested.empty || !t.body.empty;
}

export function bodyChecksActive(state: CleanupState): boolean {
  if (!mayCheck(state)) return false;
  const tables = checkTables(state.config);
  return !tables.body.empty && progress(state).body < tables.bodySizeLimit;
}

export async function checkHeader(
  state: CleanupState,
  name: string,
  header: string,
  klass: MimeClass = MIME_CLASS.PRIMARY,
): Promise<CheckOutcome> {
  if (!mayCheck(state)) return KEEP;
  const maps = headerTable(state.config, name, klass);
  if (!maps || maps.empty) return KEEP;
  return runCheck(state, maps, CHECK_CONTEXT.HEADER, header);
}

export async function checkBody(
  state: CleanupState,
  line: string,
  bytes: number,
): Promise<CheckOutcome> {
  if (!bodyChecksActive(state)) return KEEP;
  progress(state).body += bytes;
  return runCheck(state, checkTables(state.config).body, 'body', line);
}

async function runCheck(
  state: CleanupState,
  maps: Maps,
  context: CheckContext,
  content: string,
): Promise<CheckOutcome> {
  let value: string | undefined;
  try {
    value = await maps.lookup(content);
  } catch (err) {
    if (!(err instanceof DictError)) throw err;
    msg.warn(
      `${state.queueId}: ${maps.title} map lookup problem -- ` +
        'message not accepted, try again later',
    );
    state.fail(CLEANUP_STAT.WRITE);
    return KEEP;
  }
  if (value === undefined) return KEEP;
  return applyAction(state, { maps, context, content }, value);
}

interface Match {
  maps: Maps;
  context: CheckContext;
  content: string;
}

type ActionHandler = (
  state: CleanupState,
  match: Match,
  text: string,
) => CheckOutcome;

function applyAction(
  state: CleanupState,
  match: Match,
  value: string,
): CheckOutcome {
  const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(value);
  const command = (m?.[1] ?? '').toUpperCase();
  const handler = ACTIONS[command];
  if (handler) return handler(state, match, (m?.[2] ?? '').trim());
  msg.warn(`unknown command in ${match.maps.title} map: ${value}`);
  return KEEP;
}

// Postfix's cleanup_act_log line: "QID: action: header|body text from
// name[addr]; from=<s> to=<r> proto=P helo=<h>: optional text".
export function logAction(
  state: CleanupState,
  action: string,
  match: Match,
  text: string,
): void {
  const content = printable(match.content.slice(0, LOG_CONTENT_MAX));
  const head = `${state.queueId}: ${action}: ${match.context} ${content}`;
  const tail = text ? `: ${printable(text)}` : '';
  msg.info(`${head} from ${clientOf(state)};${envelopeFields(state)}${tail}`);
}

function clientOf(state: CleanupState): string {
  const a = state.attrs;
  const addr = a.get('log_client_address');
  if (addr === undefined) return 'local';
  return `${a.get('log_client_name') ?? 'unknown'}[${addr}]`;
}

// Each field only when known, as Postfix writes them.
function envelopeFields(state: CleanupState): string {
  const a = state.attrs;
  let fields = '';
  if (state.sender !== undefined) fields += ` from=<${state.sender}>`;
  if (state.firstRcpt !== undefined) fields += ` to=<${state.firstRcpt}>`;
  const proto = a.get('log_protocol_name');
  if (proto !== undefined) fields += ` proto=${proto}`;
  const helo = a.get('log_helo_name');
  if (helo !== undefined) fields += ` helo=<${helo}>`;
  return fields;
}

// A REJECT text may start with its own DSN code; smtpd adds 5.7.1.
function onReject(state: CleanupState, match: Match, text: string) {
  const reason =
    text.replace(/^[45]\.\d{1,3}\.\d{1,3}\s+/, '') || DEFAULT_REJECT;
  logAction(state, 'reject', match, `5.7.1 ${reason}`);
  state.fail(CLEANUP_STAT.CONT, reason);
  return KEEP;
}

function onWarn(state: CleanupState, match: Match, text: string) {
  logAction(state, 'warning', match, text);
  return KEEP;
}

function onInfo(state: CleanupState, match: Match, text: string) {
  logAction(state, 'info', match, text);
  return KEEP;
}

function onHold(state: CleanupState, match: Match, text: string) {
  logAction(state, 'hold', match, text);
  state.flags |= CLEANUP_FLAG.HOLD;
  return KEEP;
}

function onDiscard(state: CleanupState, match: Match, text: string) {
  logAction(state, 'discard', match, text);
  state.flags |= CLEANUP_FLAG.DISCARD;
  return KEEP;
}

function onRedirect(state: CleanupState, match: Match, text: string) {
  if (!text) {
    msg.warn(`${match.maps.title} map: REDIRECT action without address`);
    return KEEP;
  }
  logAction(state, 'redirect', match, text);
  state.redirect = rewriteAddressSync(text, 'local', state.config);
  return KEEP;
}

function onPrepend(state: CleanupState, match: Match, text: string) {
  if (!validInsert(match, text)) return KEEP;
  return { drop: false, before: text.split('\n'), instead: [] };
}

function onReplace(state: CleanupState, match: Match, text: string) {
  if (!validInsert(match, text)) return KEEP;
  logAction(state, 'replace', match, text);
  return { drop: true, before: [], instead: text.split('\n') };
}

function onIgnore(): CheckOutcome {
  return { drop: true, before: [], instead: [] };
}

function onStrip(state: CleanupState, match: Match, text: string) {
  logAction(state, 'strip', match, text);
  return onIgnore();
}

// PASS ends all header and body inspection of this message.
function onPass(state: CleanupState, match: Match, text: string) {
  logAction(state, 'pass', match, text);
  progress(state).pass = true;
  return KEEP;
}

// FILTER transport:destination sends the message to that content filter
// instead of its recipients' transports, for clients that allow it.
function onFilter(state: CleanupState, match: Match, text: string) {
  if (!/^[^:\s]+:\S*$/.test(text)) {
    msg.warn(`${match.maps.title} map: bad FILTER action: ${printable(text)}`);
    return KEEP;
  }
  logAction(state, 'filter', match, text);
  state.filter = text;
  return KEEP;
}

// BCC adds a recipient, for clients that allow it (CLEANUP_FLAG_BCC_OK).
function onBcc(state: CleanupState, match: Match, text: string) {
  if (!text) {
    msg.warn(`${match.maps.title} map: BCC action without address`);
    return KEEP;
  }
  if (!(state.flags & CLEANUP_FLAG.BCC_OK)) return KEEP;
  state.bccRecipients.push(rewriteAddressSync(text, 'local', state.config));
  return KEEP;
}

// A header inserted by PREPEND or REPLACE must look like one.
function validInsert(match: Match, text: string): boolean {
  if (match.context !== CHECK_CONTEXT.HEADER) return true;
  if (/^[\x21-\x39\x3b-\x7e]+:/.test(text)) return true;
  msg.warn(`${match.maps.title} map: bad header in action: ${printable(text)}`);
  return false;
}

const ACTIONS: Record<string, ActionHandler> = {
  REJECT: onReject,
  WARN: onWarn,
  INFO: onInfo,
  HOLD: onHold,
  DISCARD: onDiscard,
  REDIRECT: onRedirect,
  PREPEND: onPrepend,
  REPLACE: onReplace,
  IGNORE: onIgnore,
  STRIP: onStrip,
  PASS: onPass,
  FILTER: onFilter,
  BCC: onBcc,
  DUNNO: () => KEEP,
  OK: () => KEEP,
};
