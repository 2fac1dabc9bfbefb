// The SMTP session of smtpd (RFC 5321 with Postfix's replies and limits):
// a command loop over named states with one small handler per command.
// SmtpdSession runs one client socket, from a plain net.Server or from
// the daemon skeleton alike, and STARTTLS swaps in the TLS socket.
// AUTH is smtpd_sasl.ts's. Limits: no milters or policy service (each
// marked XXX below).

// Why not smtp-server's SMTPConnection: its command table, reply texts,
// parser and DATA stream are closed to change (no BDAT, no view of the
// unread input for the pipelining check, no per-reply error count, dot
// handling keyed on bare LF), so Postfix's behaviour could only be had
// by replacing nearly every method of it. The package stays a dependency
// of the project for other parts; smtpd does not load it.

import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { msg, printable } from '../../packages/log/log';
import { parsePath, AddressError } from '../../packages/address/address';
import {
  Reply,
  reply,
  formatMultiline,
  formatReply,
  SmtpdChat,
} from './smtpd_chat';
import { BdatDecoder, ContentLine, DataDecoder } from './smtpd_data';
import { InputClosed, InputTimeout, SmtpdInput } from './smtpd_input';
import {
  Client,
  emptyTransaction,
  Recipient,
  SESSION,
  SmtpdState,
} from './smtpd_state';
import {
  SmtpdCheck,
  logReject,
  buildNetworks,
  matchNetworks,
} from './smtpd_check';
import { MessageWriter } from './smtpd_cleanup';
import { etrnCommand } from '../../packages/ipc/flush_client';
import { lookupClient } from './smtpd_peer';
import { BARE_NEWLINE, SmtpdSettings } from './smtpd_settings';
import { AnvilClient, AnvilPeer } from './smtpd_anvil';
import { checkQueueSpace } from './smtpd_space';
import { startServerTls } from './smtpd_tls';
import { authenticate, offeredMechanisms } from './smtpd_sasl';
import {
  TLS_LEVEL,
  tlsCipherText,
  tlsErrorText,
  tlsSummary,
} from '../../packages/tls/tls_policy';

// Everything a command handler may touch; one per session.
interface Session {
  settings: SmtpdSettings;
  check: SmtpdCheck;
  state: SmtpdState;
  chat: SmtpdChat;
  input: SmtpdInput;
  socket: Socket;
  message: MessageWriter | null;
  bdat: BdatDecoder | null;
  contentBytes: number; // of the message being received, for the log
  denied: boolean; // smtpd_client_restrictions refused us at CONNECT
  anvil: AnvilClient | null; // null: exempt from the client limits
  anvilConnected: boolean; // a disconnect is owed to anvil
  handshake: Promise<void> | null; // wrapper mode: the TLS handshake
}

type Handler = (s: Session, args: string) => Promise<boolean>;

// RFC 2920 section 3.1: these end a pipelined group, so nothing may
// follow them unread.
const MUST_BE_LAST = new Set(['EHLO', 'HELO', 'DATA', 'VRFY', 'NOOP']);
const JUNK = new Set(['HELO', 'EHLO', 'RSET', 'NOOP', 'VRFY', 'ETRN']);
const NON_SMTP = /^(CONNECT|GET|POST)$/i;
// What a client may say before STARTTLS when smtpd_tls_security_level
// is encrypt; anything else hears 530.
const PRE_TLS = new Set(['HELO', 'EHLO', 'STARTTLS', 'RSET', 'NOOP', 'QUIT']);

const DSN_NOTIFY: Record<string, number> = {
  NEVER: 1,
  SUCCESS: 2,
  FAILURE: 4,
  DELAY: 8,
};

export class SmtpdSession {
  #s: Session;

  constructor(
    socket: Socket,
    settings: SmtpdSettings,
    check: SmtpdCheck,
    client: Client,
    anvil: AnvilClient | null = null,
    handshake: Promise<void> | null = null,
  ) {
    socket.setNoDelay(true);
    const chat = new SmtpdChat(socket, {
      softErrorLimit: settings.softErrorLimit,
      errorSleepMs: settings.errorSleepMs,
    });
    this.#s = {
      settings,
      check,
      socket,
      state: new SmtpdState(client, settings.portLogging),
      chat,
      input: new SmtpdInput(
        socket,
        settings.timeoutMs,
        settings.perRecordDeadline,
        () => chat.flush(),
      ),
      message: null,
      bdat: null,
      contentBytes: 0,
      denied: false,
      anvil: anvil && !anvil.exempt(client.addr) ? anvil : null,
      anvilConnected: false,
      handshake,
    };
    this.#s.state.rewriteContext = check.rewriteContext(client.addr);
  }

  // The whole session; resolves when the client is gone. Never rejects:
  // a failure in here is logged and ends this session only.
  async run(): Promise<void> {
    const s = this.#s;
    msg.info(`connect from ${clientText(s)}`);
    try {
      // Let bytes an early talker sent arrive before the greeting goes:
      // two turns, so that one poll of the sockets runs in between (the
      // client name may have come from memory, smtpd_hosts.ts, in no
      // time at all). Bytes that arrive later than that poll are not
      // seen as early talk: no pregreet wait (postscreen's) here.
      await new Promise((r) => setImmediate(() => setImmediate(r)));
      if (await connectionLimited(s)) return;
      if (s.settings.tls.wrapperMode && !(await wrapperHandshake(s))) return;
      await greet220(s);
      if (await pipeliningViolation(s, 'CONNECT')) return;
      await commandLoop(s);
    } catch (err) {
      await endOnError(s, err);
    } finally {
      finishSession(s);
      if (s.anvilConnected) await s.anvil!.disconnect(anvilPeer(s));
    }
  }
}

function anvilPeer(s: Session): AnvilPeer {
  const c = s.state.client;
  return { addr: c.addr, namaddr: `${c.name}[${c.addr}]` };
}

// smtpd_client_connection_count_limit and _rate_limit: a 421 instead of
// the greeting. Postfix answers before reading any command.
async function connectionLimited(s: Session): Promise<boolean> {
  if (!s.anvil) return false;
  const { counted, refused } = await s.anvil.connect(
    anvilPeer(s),
    s.settings.myhostname,
  );
  s.anvilConnected = counted;
  if (!refused) return false;
  await s.chat.send(refused);
  close(s);
  return true;
}

// Without smtpd_delay_reject a refused client hears the refusal instead
// of the greeting, and 503 to every command but QUIT.
async function greet220(s: Session): Promise<void> {
  const denied = s.check.delayReject
    ? null
    : await s.check.checkClient(s.state);
  s.denied = denied !== null;
  await s.chat.send(denied ?? reply(220, '', s.settings.banner));
}

async function accessDenied(s: Session): Promise<void> {
  const who = clientText(s);
  await s.chat.send(reply(503, '5.7.0', `Error: access denied for ${who}`));
}

async function commandLoop(s: Session): Promise<void> {
  while (s.state.state !== SESSION.CLOSED) {
    if (s.chat.errorCount >= s.settings.hardErrorLimit) {
      msg.info(`too many errors after ${s.state.where} from ${clientText(s)}`);
      await s.chat.send(
        reply(421, '4.7.0', `${s.settings.myhostname} Error: too many errors`),
      );
      close(s);
      return;
    }
    await s.input.writable();
    const line = await s.input.readLine(s.settings.lineLengthLimit);
    await dispatch(s, line);
  }
}

async function dispatch(s: Session, raw: Buffer): Promise<void> {
  const text = commandText(s, raw);
  if (typeof text !== 'string') {
    s.state.stats.count('unknown', false);
    await s.chat.send(text);
    return;
  }
  const [verbRaw] = text.split(/[ \t]/, 1);
  const verb = verbRaw.toUpperCase();
  if (NON_SMTP.test(verb) || /^[!-9;-~]+:/.test(verbRaw))
    return nonSmtp(s, text);
  const handler = COMMANDS[verb];
  if (!handler) return unknownCommand(s);
  s.state.where = verb;
  if (s.denied && verb !== 'QUIT') {
    s.state.stats.count(verb.toLowerCase(), false);
    return accessDenied(s);
  }
  if (await pipeliningViolation(s, verb)) return;
  if (mustStartTls(s, verb)) return mustIssueStarttls(s, verb);
  await runHandler(s, verb, handler, text.slice(verbRaw.length).trim());
}

function mustStartTls(s: Session, verb: string): boolean {
  const level = s.settings.tls.level;
  return level === TLS_LEVEL.ENCRYPT && !s.state.tls && !PRE_TLS.has(verb);
}

async function mustIssueStarttls(s: Session, verb: string): Promise<void> {
  s.state.stats.count(verb.toLowerCase(), false);
  await s.chat.send(reply(530, '5.7.0', 'Must issue a STARTTLS command first'));
}

// The command line as text, or the reply for a line that is none.
function commandText(s: Session, raw: Buffer): string | Reply {
  if (raw.includes(0) || /^\s*$/.test(raw.toString('latin1')))
    return reply(500, '5.5.2', 'Error: bad syntax');
  const text = decodeCommand(raw, s.settings.smtputf8);
  return text ?? reply(500, '5.5.2', 'Error: bad UTF-8 syntax');
}

async function runHandler(
  s: Session,
  verb: string,
  handler: Handler,
  args: string,
): Promise<void> {
  if (JUNK.has(verb) && ++s.state.junkCommands > s.settings.junkCommandLimit)
    s.chat.errorCount += 1;
  let ok = false;
  try {
    ok = await handler(s, args);
  } finally {
    s.state.stats.count(verb.toLowerCase(), ok);
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

// With SMTPUTF8 a command must be valid UTF-8 (RFC 6531 section 3.3);
// without it, bytes over 127 are kept as they are (latin1).
function decodeCommand(raw: Buffer, smtputf8: boolean): string | null {
  if (!smtputf8) return raw.toString('latin1');
  try {
    return UTF8.decode(raw);
  } catch {
    return null;
  }
}

async function unknownCommand(s: Session): Promise<void> {
  s.state.stats.count('unknown', false);
  await s.chat.send(reply(502, '5.5.2', 'Error: command not recognized'));
}

async function nonSmtp(s: Session, text: string): Promise<void> {
  msg.warn(`non-SMTP command from ${clientText(s)}: ${printable(text, 100)}`);
  s.state.stats.count('unknown', false);
  await s.chat.send(
    reply(221, '2.7.0', 'Error: I can break rules, too. Goodbye.'),
  );
  close(s);
}

// smtpd_forbid_unauth_pipelining: input waiting behind a command is only
// allowed after EHLO, and never behind a command that ends a group.
async function pipeliningViolation(s: Session, verb: string): Promise<boolean> {
  if (!s.settings.forbidUnauthPipelining || verb === 'BDAT') return false;
  if (s.input.pending === 0) return false;
  const negotiated = s.state.protocol === 'ESMTP';
  if (negotiated && verb !== 'CONNECT' && !MUST_BE_LAST.has(verb)) return false;
  msg.info(
    `improper command pipelining after ${verb} from ${clientText(s)}: ` +
      printable(s.input.peekText(100), 100),
  );
  s.input.discard();
  await s.chat.send(
    reply(554, '5.5.0', 'Error: SMTP protocol synchronization'),
  );
  close(s);
  return true;
}

async function send(s: Session, r: Reply): Promise<boolean> {
  await s.chat.send(r);
  return r.code < 400;
}

// --- HELO, EHLO, RSET, NOOP, QUIT, VRFY, ETRN, STARTTLS, AUTH

async function cmdHelo(s: Session, args: string): Promise<boolean> {
  if (!args) return send(s, reply(501, '', 'Syntax: HELO hostname'));
  greet(s, args, 'SMTP');
  const refused = await heloRefused(s, 'HELO');
  return send(s, refused ?? reply(250, '', s.settings.myhostname));
}

async function cmdEhlo(s: Session, args: string): Promise<boolean> {
  if (!args) return send(s, reply(501, '', 'Syntax: EHLO hostname'));
  greet(s, args, 'ESMTP');
  const refused = await heloRefused(s, 'EHLO');
  if (refused) return send(s, refused);
  const tlsActive = !!s.state.tls;
  const mechs = await offeredMechanisms(s.settings.sasl, tlsActive);
  s.chat.write(formatMultiline(250, ehloLines(s.settings, tlsActive, mechs)));
  return true;
}

// smtpd_helo_restrictions now, unless smtpd_delay_reject puts them off
// to RCPT; a refused name is forgotten.
async function heloRefused(s: Session, stage: string): Promise<Reply | null> {
  if (s.check.delayReject) return null;
  const refused = await s.check.checkHelo(s.state, stage);
  if (refused) s.state.helo = '';
  return refused;
}

// HELO and EHLO start over: any transaction is gone (RFC 5321 4.1.4).
function greet(s: Session, name: string, protocol: string): void {
  abortMessage(s);
  s.state.helo = printable(name.split(/\s+/)[0], 255);
  s.state.protocol = protocol;
  s.state.resetTransaction();
  s.state.state = SESSION.GREETED;
}

// STARTTLS only while it can still be used: offered, and not yet done.
export function ehloLines(
  settings: SmtpdSettings,
  tlsActive = false,
  saslMechanisms: string[] = [],
): string[] {
  const size = settings.messageSizeLimit;
  const starttls = !!settings.tls?.context && !tlsActive;
  const keywords = [
    'PIPELINING',
    size > 0 ? `SIZE ${size}` : 'SIZE',
    ...(settings.disableVrfy ? [] : ['VRFY']),
    'ETRN',
    ...(starttls ? ['STARTTLS'] : []),
    ...authKeywords(settings, saslMechanisms),
    'ENHANCEDSTATUSCODES',
    '8BITMIME',
    'DSN',
    ...(settings.smtputf8 ? ['SMTPUTF8'] : []),
    'CHUNKING',
  ];
  const discard = new Set(settings.discardEhloKeywords);
  const kept = keywords.filter((k) => !discard.has(k.split(' ')[0]));
  return [settings.myhostname, ...kept];
}

// AUTH, and AUTH= for the old clients of broken_sasl_auth_clients.
function authKeywords(settings: SmtpdSettings, mechs: string[]): string[] {
  if (mechs.length === 0) return [];
  const list = mechs.join(' ');
  const broken = settings.sasl?.brokenClients;
  return broken ? [`AUTH ${list}`, `AUTH=${list}`] : [`AUTH ${list}`];
}

async function cmdRset(s: Session, args: string): Promise<boolean> {
  if (args) return send(s, reply(501, '5.5.4', 'Syntax: RSET'));
  abortMessage(s);
  s.state.resetTransaction();
  return send(s, reply(250, '2.0.0', 'Ok'));
}

async function cmdNoop(s: Session): Promise<boolean> {
  return send(s, reply(250, '2.0.0', 'Ok'));
}

async function cmdQuit(s: Session): Promise<boolean> {
  await s.chat.send(reply(221, '2.0.0', 'Bye'));
  close(s);
  return true;
}

async function cmdVrfy(s: Session, args: string): Promise<boolean> {
  if (s.settings.disableVrfy)
    return send(s, reply(502, '5.5.1', 'VRFY command is disabled'));
  if (needHelo(s)) return send(s, heloFirst());
  if (!args) return send(s, reply(501, '5.5.4', 'Syntax: VRFY address'));
  const refused = await vrfyRefused(s, args);
  return send(s, refused ?? reply(252, '2.0.0', args));
}

// VRFY runs the recipient checks, as Postfix does, so that it tells no
// more than RCPT would; 252 says only that delivery will be tried.
async function vrfyRefused(s: Session, args: string): Promise<Reply | null> {
  let address: string;
  try {
    address = parsePath(args).address;
  } catch (err) {
    if (!(err instanceof AddressError)) throw err;
    return reply(501, '5.1.3', 'Bad recipient address syntax');
  }
  if (!s.state.transaction && NON_ASCII.test(address)) return undeclaredUtf8();
  return s.check.checkRcpt(s.state, address, 'VRFY');
}

// ETRN asks the flush service to deliver a fast_flush_domains site now.
async function cmdEtrn(s: Session, args: string): Promise<boolean> {
  if (needHelo(s)) return send(s, heloFirst());
  if (s.state.inTransaction)
    return send(s, reply(503, '5.5.1', 'Error: MAIL transaction in progress'));
  if (!args) return send(s, reply(500, '', 'Syntax: ETRN domain'));
  const answer = await etrnCommand(s.settings.queueDir, args);
  return send(s, reply(answer.code, answer.dsn, answer.text));
}

async function cmdStarttls(s: Session, args: string): Promise<boolean> {
  if (args) return send(s, reply(501, '5.5.4', 'Syntax: STARTTLS'));
  if (s.state.tls)
    return send(s, reply(554, '5.5.1', 'Error: TLS already active'));
  const t = s.settings.tls;
  if (t.level === TLS_LEVEL.NONE)
    return send(s, reply(502, '5.5.1', 'Error: command not implemented'));
  if (!t.context)
    return send(
      s,
      reply(454, '4.7.0', 'TLS not available due to local problem'),
    );
  return upgradeToTls(s);
}

// CVE-2011-0411: whatever the client sent after STARTTLS came in
// plaintext, so it is thrown away before the handshake, and the TLS
// socket takes over the connection in this same tick, before any more
// input is read.
async function upgradeToTls(s: Session): Promise<boolean> {
  s.input.detach();
  s.chat.write(formatReply(reply(220, '2.0.0', 'Ready to start TLS')));
  s.chat.flush();
  const { secure, done } = startServerTls(s.socket, s.settings.tls);
  try {
    await done;
  } catch (err) {
    tlsFailed(s, err);
    return false;
  }
  switchSocket(s, secure);
  beginTlsSession(s, secure);
  return true;
}

function tlsFailed(s: Session, err: unknown): void {
  msg.info(`SSL_accept error from ${clientText(s)}: ${tlsErrorText(err)}`);
  msg.info(`lost connection after ${s.state.where} from ${clientText(s)}`);
  s.state.state = SESSION.CLOSED;
  s.socket.destroy();
}

// Reading and replying go through the TLS socket from now on.
function switchSocket(s: Session, secure: TLSSocket): void {
  s.socket = secure;
  s.chat.useSocket(secure);
  s.input = new SmtpdInput(
    secure,
    s.settings.timeoutMs,
    s.settings.perRecordDeadline,
    () => s.chat.flush(),
  );
}

// RFC 3207 section 4.2: the server forgets all it learnt from the
// client before TLS, so EHLO is needed again (and lists no STARTTLS).
function beginTlsSession(s: Session, secure: TLSSocket): void {
  const t = s.settings.tls;
  const summary = tlsSummary(secure, 'server');
  s.state.tls = {
    summary,
    receivedText: t.receivedHeader ? tlsCipherText(secure) : '',
  };
  abortMessage(s);
  s.state.helo = '';
  s.state.protocol = 'SMTP';
  s.state.sasl = null;
  s.state.resetTransaction();
  if (t.loglevel >= 1)
    msg.info(
      `Anonymous TLS connection established from ${clientText(s)}: ${summary}`,
    );
}

// smtpd_tls_wrappermode: TLS from the first byte, before the greeting;
// handleConnection started the handshake.
async function wrapperHandshake(s: Session): Promise<boolean> {
  if (!s.handshake) {
    msg.warn(`cannot start TLS for ${clientText(s)}: TLS not available`);
    close(s);
    return false;
  }
  try {
    await s.handshake;
  } catch (err) {
    tlsFailed(s, err);
    return false;
  }
  beginTlsSession(s, s.socket as TLSSocket);
  return true;
}

// RFC 4954 section 4: AUTH once per session, after EHLO, outside a
// mail transaction.
async function cmdAuth(s: Session, args: string): Promise<boolean> {
  const sasl = s.settings.sasl;
  if (!sasl.enabled)
    return send(s, reply(503, '5.5.1', 'Error: authentication not enabled'));
  if (s.state.protocol !== 'ESMTP') return send(s, heloFirst());
  if (s.state.sasl)
    return send(s, reply(503, '5.5.1', 'Error: already authenticated'));
  if (s.state.inTransaction)
    return send(s, reply(503, '5.5.1', 'Error: MAIL transaction in progress'));
  if (!args) return send(s, reply(501, '5.5.4', 'Syntax: AUTH mechanism'));
  if (sasl.authOnly && !s.state.tls) return send(s, encryptionRequired());
  return authExchange(s, args);
}

function encryptionRequired(): Reply {
  const text = 'Encryption required for requested authentication mechanism';
  return reply(538, '5.7.11', text);
}

async function authExchange(s: Session, args: string): Promise<boolean> {
  const peer = {
    clientAddr: s.state.client.addr,
    serverAddr: s.socket.localAddress ?? '',
    tlsActive: !!s.state.tls,
  };
  const result = await authenticate(s.settings.sasl, args, peer, (text) =>
    saslChallenge(s, text),
  );
  if ('reply' in result) {
    if (result.reason !== undefined)
      msg.warn(
        `${clientText(s)}: SASL ${printable(args.split(' ')[0], 20)} ` +
          `authentication failed: ${printable(result.reason, 200)}`,
      );
    return send(s, result.reply);
  }
  s.state.sasl = result;
  return send(s, reply(235, '2.7.0', 'Authentication successful'));
}

// "334 <base64>" and the client's line; SASL responses may be longer
// than a command line (RFC 4954 section 4 allows 12288 octets).
async function saslChallenge(s: Session, text: string): Promise<string> {
  s.chat.write(`334 ${text}\r\n`);
  const limit = Math.max(s.settings.lineLengthLimit, 12288);
  return (await s.input.readLine(limit)).toString('latin1').trim();
}

const NON_ASCII = /[^\x00-\x7f]/;

function undeclaredUtf8(): Reply {
  return reply(553, '5.6.7', 'Must declare SMTPUTF8 to send unicode address');
}

function needHelo(s: Session): boolean {
  return s.settings.heloRequired && !s.state.helo;
}

function heloFirst(): Reply {
  return reply(503, '5.5.1', 'Error: send HELO/EHLO first');
}

// --- MAIL and RCPT

interface PathArgs {
  path: string;
  params: string[];
}

// "FROM:<a@b> SIZE=10": the path (angle brackets kept, quotes honoured)
// and the ESMTP parameters after it.
const PATH_KEYWORDS = new Map<string, RegExp>();

function keywordPattern(keyword: string): RegExp {
  let re = PATH_KEYWORDS.get(keyword);
  if (!re)
    PATH_KEYWORDS.set(keyword, (re = new RegExp(`^${keyword}:\\s*`, 'i')));
  return re;
}

export function splitPathArgs(args: string, keyword: string): PathArgs | null {
  // One pattern per keyword (FROM, TO), made once, not once per command.
  const m = keywordPattern(keyword).exec(args);
  if (!m) return null;
  const rest = args.slice(m[0].length);
  const end = rest.startsWith('<') ? closingBracket(rest) : rest.search(/\s|$/);
  if (end < 0) return { path: rest, params: [] };
  const path = rest.slice(0, end + (rest.startsWith('<') ? 1 : 0));
  const params = rest.slice(path.length).trim();
  return { path, params: params ? params.split(/\s+/) : [] };
}

function closingBracket(text: string): number {
  let quoted = false;
  for (let i = 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') quoted = !quoted;
    else if (text[i] === '>' && !quoted) return i;
  }
  return -1;
}

async function cmdMail(s: Session, args: string): Promise<boolean> {
  if (needHelo(s)) return send(s, heloFirst());
  if (s.bdat) return send(s, reply(503, '5.5.1', 'Error: MAIL after BDAT'));
  if (s.state.inTransaction)
    return send(s, reply(503, '5.5.1', 'Error: nested MAIL command'));
  const parts = splitPathArgs(args, 'FROM');
  if (!parts)
    return send(s, reply(501, '5.5.4', 'Syntax: MAIL FROM:<address>'));
  let sender: string;
  try {
    sender = parsePath(parts.path).address;
  } catch (err) {
    if (!(err instanceof AddressError)) throw err;
    return send(s, reply(501, '5.1.7', 'Bad sender address syntax'));
  }
  const t = emptyTransaction(sender);
  for (const p of parts.params) {
    const bad = mailParam(s, t, p);
    if (bad) return send(s, bad);
  }
  if (!t.smtputf8 && NON_ASCII.test(sender)) return send(s, undeclaredUtf8());
  const limit = s.settings.messageSizeLimit;
  if (limit > 0 && t.size > limit)
    return send(s, reply(552, '5.3.4', 'Message size exceeds fixed limit'));
  const noSpace = checkQueueSpace(
    s.settings.queueDir,
    s.settings.queueMinfree,
    s.settings.messageSizeLimit,
    t.size,
  );
  if (noSpace) return send(s, noSpace);
  const tooFast = await s.anvil?.message(anvilPeer(s));
  if (tooFast) return send(s, tooFast);
  s.state.transaction = t;
  const refused = s.check.delayReject
    ? null
    : await s.check.checkSender(s.state);
  if (refused) {
    s.state.transaction = null;
    return send(s, refused);
  }
  s.state.state = SESSION.MAIL;
  return send(s, reply(250, '2.1.0', 'Ok'));
}

// One MAIL FROM parameter (RFC 1870 SIZE, 6152 BODY, 3461 RET/ENVID,
// 6531 SMTPUTF8); a reply when it is refused.
function mailParam(
  s: Session,
  t: ReturnType<typeof emptyTransaction>,
  p: string,
): Reply | null {
  const [key, value = ''] = splitParam(p);
  switch (key) {
    case 'SIZE':
      if (!/^\d+$/.test(value))
        return reply(501, '5.5.4', 'Bad message size syntax');
      t.size = Number(value);
      return null;
    case 'BODY':
      if (!/^(7BIT|8BITMIME)$/i.test(value))
        return reply(501, '5.5.4', 'Unsupported BODY parameter value');
      t.body = value.toUpperCase();
      return null;
    case 'RET':
      if (!/^(FULL|HDRS)$/i.test(value))
        return reply(501, '5.5.4', 'Bad RET parameter syntax');
      t.ret = value.toUpperCase();
      return null;
    case 'ENVID':
      t.envid = decodeXtext(value);
      if (!PRINTABLE_XTEXT.test(t.envid) || t.envid.length > 100)
        return reply(501, '5.5.4', 'Error: Bad ENVID parameter syntax');
      return null;
    case 'SMTPUTF8':
      if (!s.settings.smtputf8) break;
      t.smtputf8 = true;
      return null;
    case 'AUTH':
      return null;
  }
  return reply(555, '5.5.4', `Unsupported option: ${p}`);
}

function splitParam(p: string): [string, string | undefined] {
  const eq = p.indexOf('=');
  if (eq < 0) return [p.toUpperCase(), undefined];
  return [p.slice(0, eq).toUpperCase(), p.slice(eq + 1)];
}

// What an ENVID or ORCPT may hold once decoded: both are copied into
// the headers of delivery status notifications, so a CR, LF or NUL here
// would let a client write headers of its own. ENVID is printable ASCII
// (RFC 3461 section 4.4); ORCPT may carry UTF-8 (RFC 6533).
const PRINTABLE_XTEXT = /^[\x20-\x7e]*$/;
const NO_CONTROLS = /^[^\x00-\x1f\x7f]*$/;

// RFC 3461 section 4: "+XX" stands for the byte 0xXX.
function decodeXtext(text: string): string {
  return text.replace(/\+([0-9A-Fa-f]{2})/g, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

async function cmdRcpt(s: Session, args: string): Promise<boolean> {
  const t = s.state.transaction;
  if (!t) return send(s, reply(503, '5.5.1', 'Error: need MAIL command'));
  if (s.bdat) return send(s, reply(503, '5.5.1', 'Error: RCPT after BDAT'));
  const parts = splitPathArgs(args, 'TO');
  if (!parts) return send(s, reply(501, '5.5.4', 'Syntax: RCPT TO:<address>'));
  const rcpt = parseRecipient(parts);
  if (!rcpt)
    return send(s, reply(501, '5.1.3', 'Bad recipient address syntax'));
  if ('code' in rcpt) return send(s, rcpt);
  if (!t.smtputf8 && NON_ASCII.test(rcpt.address))
    return send(s, undeclaredUtf8());
  if (t.recipients.length >= s.settings.recipientLimit)
    return send(s, reply(452, '4.5.3', 'Error: too many recipients'));
  const tooFast = await s.anvil?.recipient(anvilPeer(s));
  if (tooFast) return send(s, tooFast);
  const refused = await s.check.checkRcpt(s.state, rcpt.address);
  if (refused) return send(s, refused);
  const opened = await addRecipient(s, rcpt);
  if (!opened)
    return send(s, reply(451, '4.3.0', 'Error: queue file write error'));
  return send(s, reply(250, '2.1.5', 'Ok'));
}

function parseRecipient(parts: PathArgs): Recipient | Reply | null {
  let address: string;
  try {
    address = parsePath(parts.path).address;
  } catch (err) {
    if (!(err instanceof AddressError)) throw err;
    return null;
  }
  if (address === '') return null;
  const r: Recipient = { address, orcpt: '', notify: 0 };
  for (const p of parts.params) {
    const [key, value = ''] = splitParam(p);
    if (key === 'NOTIFY') r.notify = notifyBits(value);
    else if (key === 'ORCPT' && !/^[^;\s]+;\S+$/.test(value))
      return reply(501, '5.5.4', 'Error: Bad ORCPT parameter syntax');
    else if (key === 'ORCPT' && !NO_CONTROLS.test(decodeXtext(value)))
      return reply(501, '5.5.4', 'Error: Bad ORCPT parameter syntax');
    else if (key === 'ORCPT') r.orcpt = decodeXtext(value);
    else return reply(555, '5.5.4', `Unsupported option: ${p}`);
    if (Number.isNaN(r.notify))
      return reply(501, '5.5.4', 'Error: Bad NOTIFY parameter syntax');
  }
  return r;
}

function notifyBits(value: string): number {
  let bits = 0;
  for (const word of value.toUpperCase().split(',')) {
    if (!(word in DSN_NOTIFY)) return NaN;
    bits |= DSN_NOTIFY[word];
  }
  return bits;
}

// The first accepted recipient opens the queue file, and only then
// does the message have a queue ID (Postfix logs "QID: client=" here).
async function addRecipient(s: Session, r: Recipient): Promise<boolean> {
  try {
    if (!s.message) {
      s.message = await MessageWriter.open(
        s.settings.queueDir,
        s.state,
        s.check.config,
      );
      s.state.queueId = s.message.queueId;
      msg.info(`${s.state.queueId}: client=${clientText(s)}${saslText(s)}`);
    }
    await s.message.addRecipient(r);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    msg.warn(`${s.state.queueId || 'NOQUEUE'}: addRecipient: cleanup: ${why}`);
    abortMessage(s);
    return false;
  }
  s.state.transaction!.recipients.push(r);
  s.state.state = SESSION.RCPT;
  return true;
}

// --- DATA and BDAT

function needRecipients(s: Session): Reply | null {
  const t = s.state.transaction;
  if (!t) return reply(503, '5.5.1', 'Error: need RCPT command');
  if (t.recipients.length === 0 || !s.message)
    return reply(554, '5.5.1', 'Error: no valid recipients');
  return null;
}

async function cmdData(s: Session, args: string): Promise<boolean> {
  if (args) return send(s, reply(501, '5.5.4', 'Syntax: DATA'));
  if (s.bdat) return send(s, reply(503, '5.5.1', 'Error: DATA after BDAT'));
  const refused = needRecipients(s);
  if (refused) return send(s, refused);
  await s.message!.beginContent(s.state);
  await s.chat.send(reply(354, '', 'End data with <CR><LF>.<CR><LF>'));
  const decoder = new DataDecoder(s.settings.lineLengthLimit, lfEndsData(s));
  s.contentBytes = 0;
  const tooBig = await receiveData(s, decoder);
  return endOfMessage(s, tooBig, decoder.bareLf);
}

// Read to the end-of-data line whatever happens, so that the client and
// we stay in step; past message_size_limit the lines are dropped.
async function receiveData(s: Session, decoder: DataDecoder): Promise<boolean> {
  const limit = s.settings.messageSizeLimit;
  for (;;) {
    const chunk = await s.input.readChunk();
    const got = decoder.push(chunk);
    s.contentBytes = decoder.bytes;
    const tooBig = limit > 0 && decoder.bytes > limit;
    if (!tooBig) await writeLines(s, got.lines);
    if (got.done) {
      s.input.unshift(got.rest);
      return tooBig;
    }
  }
}

async function writeLines(s: Session, lines: ContentLine[]): Promise<void> {
  for (const line of lines) await s.message!.writeLine(line);
}

async function cmdBdat(s: Session, args: string): Promise<boolean> {
  const m = /^(\d+)(?:\s+(LAST))?$/i.exec(args);
  if (!m) return send(s, reply(501, '5.5.4', 'Syntax: BDAT count [LAST]'));
  const count = Number(m[1]);
  const last = m[2] !== undefined;
  if (count === 0 && !last)
    return send(s, reply(551, '5.7.1', 'Null BDAT request'));
  // The chunk is read even when refused: it is not a command.
  const refused = s.bdat ? null : needRecipients(s);
  const tooBig = refused ? null : chunkTooBig(s, count);
  if (refused || tooBig) {
    await skipBytes(s, count);
    if (tooBig) abortTransaction(s);
    return send(s, (refused ?? tooBig)!);
  }
  if (!s.bdat) await startBdat(s);
  const overflow = await receiveBdat(s, count);
  if (!last) return send(s, reply(250, '2.0.0', `Ok: ${count} bytes`));
  return endBdat(s, count, overflow);
}

// RFC 3030 lets us refuse a chunk by its announced size, before reading.
function chunkTooBig(s: Session, count: number): Reply | null {
  const limit = s.settings.messageSizeLimit;
  const sofar = s.bdat?.bytes ?? 0;
  if (limit <= 0 || sofar + count <= limit) return null;
  return reply(552, '5.3.4', 'Chunk exceeds message size limit');
}

function abortTransaction(s: Session): void {
  abortMessage(s);
  s.state.resetTransaction();
}

async function startBdat(s: Session): Promise<void> {
  await s.message!.beginContent(s.state);
  s.bdat = new BdatDecoder(s.settings.lineLengthLimit);
  s.contentBytes = 0;
  s.state.state = SESSION.BDAT;
}

async function receiveBdat(s: Session, count: number): Promise<boolean> {
  const limit = s.settings.messageSizeLimit;
  const decoder = s.bdat!;
  for (let left = count; left > 0;) {
    const chunk = await s.input.readChunk(left);
    left -= chunk.length;
    const lines = decoder.push(chunk);
    s.contentBytes = decoder.bytes;
    if (!(limit > 0 && decoder.bytes > limit)) await writeLines(s, lines);
  }
  return limit > 0 && decoder.bytes > limit;
}

async function endBdat(
  s: Session,
  count: number,
  tooBig: boolean,
): Promise<boolean> {
  const decoder = s.bdat!;
  const tail = decoder.finish();
  if (tail && !tooBig) await s.message!.writeLine(tail);
  s.bdat = null;
  return endOfMessage(
    s,
    tooBig,
    decoder.bareLf,
    `Ok: ${count} bytes queued as`,
  );
}

async function skipBytes(s: Session, count: number): Promise<void> {
  for (let left = count; left > 0;)
    left -= (await s.input.readChunk(left)).length;
}

// The end of a message: refuse it (size, bare LF), or commit it and answer
// only after cleanup said the file is safely on disk.
async function endOfMessage(
  s: Session,
  tooBig: boolean,
  bareLf: number,
  okText = '',
): Promise<boolean> {
  s.state.where = 'END-OF-MESSAGE';
  const policy = bareLfPolicy(s);
  if (bareLf > 0 && policy === BARE_NEWLINE.NOTE) s.state.notes.add('bare_lf');
  const refused = tooBig
    ? reply(552, '5.3.4', 'Error: message file too big')
    : bareLf > 0 && policy === BARE_NEWLINE.REJECT
      ? bareLfReply(s)
      : null;
  if (refused) return refuseMessage(s, refused);
  const { ok, reply: r } = await s.message!.finish();
  const id = s.state.queueId;
  s.message = null;
  s.state.resetTransaction();
  if (ok) {
    s.chat.resetErrors();
    s.state.junkCommands = 0;
  }
  const text = ok && okText ? `${okText} ${id}` : r.text;
  return send(s, reply(r.code, r.dsn, text));
}

async function refuseMessage(s: Session, r: Reply): Promise<boolean> {
  logReject(s.state, 'END-OF-MESSAGE', r);
  abortMessage(s);
  s.state.resetTransaction();
  await s.chat.send(r);
  if (r.code === 521) close(s);
  return false;
}

function bareLfReply(s: Session): Reply {
  const host = s.settings.myhostname;
  const code = s.settings.bareNewlineRejectCode;
  return reply(code, '5.5.2', `${host} Error: bare <LF> received`);
}

// smtpd_forbid_bare_newline_exclusions ($mynetworks) get Postfix's old
// behaviour, where a bare <LF> is a line end like any other.
function bareLfPolicy(s: Session): string {
  const excluded = matchNetworks(
    exclusionList(s.settings),
    s.state.client.addr,
  );
  return excluded ? BARE_NEWLINE.NO : s.settings.bareNewline;
}

const exclusionCache = new WeakMap<
  SmtpdSettings,
  ReturnType<typeof buildNetworks>
>();

function exclusionList(
  settings: SmtpdSettings,
): ReturnType<typeof buildNetworks> {
  let list = exclusionCache.get(settings);
  if (!list) {
    list = buildNetworks(settings.bareNewlineExclusions);
    exclusionCache.set(settings, list);
  }
  return list;
}

function lfEndsData(s: Session): boolean {
  return bareLfPolicy(s) === BARE_NEWLINE.NO;
}

// --- the end of a session

function abortMessage(s: Session): void {
  s.message?.abort();
  s.message = null;
  s.bdat = null;
  s.state.queueId = '';
}

function close(s: Session): void {
  s.state.state = SESSION.CLOSED;
  s.input.discard();
  s.chat.flush();
  if (!s.socket.writableEnded && !s.socket.destroyed) s.socket.end();
}

async function endOnError(s: Session, err: unknown): Promise<void> {
  const where = whereText(s);
  if (err instanceof InputTimeout) {
    msg.info(`timeout after ${where} from ${clientText(s)}`);
    await s.chat.send(
      reply(421, '4.4.2', `${s.settings.myhostname} Error: timeout exceeded`),
    );
  } else if (err instanceof InputClosed) {
    msg.info(`lost connection after ${where} from ${clientText(s)}`);
  } else {
    const why = err instanceof Error ? err.message : String(err);
    msg.error(`smtpd: session with ${clientText(s)}: ${why}`);
    await s.chat.send(
      reply(421, '4.3.0', `${s.settings.myhostname} Error: internal error`),
    );
  }
  close(s);
}

// "DATA (1234 bytes)" while content was being received, as Postfix 3.7.
function whereText(s: Session): string {
  const where = s.state.where;
  if (where !== 'DATA' && where !== 'BDAT') return where;
  return `${where} (${s.contentBytes} bytes)`;
}

function finishSession(s: Session): void {
  abortMessage(s);
  const notes = s.state.notes.size
    ? ` notes=${[...s.state.notes].join(',')}`
    : '';
  msg.info(
    `disconnect from ${clientText(s)} ${s.state.stats.format()}${notes}`,
  );
  s.chat.flush();
  if (!s.socket.destroyed) s.socket.end();
}

// ", sasl_method=PLAIN, sasl_username=alice" after "client=".
function saslText(s: Session): string {
  const a = s.state.sasl;
  return a ? `, sasl_method=${a.method}, sasl_username=${a.username}` : '';
}

function clientText(s: Session): string {
  return s.state.clientText();
}

const COMMANDS: Record<string, Handler> = {
  HELO: cmdHelo,
  EHLO: cmdEhlo,
  MAIL: cmdMail,
  RCPT: cmdRcpt,
  DATA: cmdData,
  BDAT: cmdBdat,
  RSET: cmdRset,
  NOOP: cmdNoop,
  QUIT: cmdQuit,
  VRFY: cmdVrfy,
  ETRN: cmdEtrn,
  STARTTLS: cmdStarttls,
  AUTH: cmdAuth,
};

// One client, from accept to close: look up its name, then run the
// session. Used by smtpd.ts and by tests on a plain net.Server.
// XXX no milters and no check_policy_service.
export async function handleConnection(
  socket: Socket,
  settings: SmtpdSettings,
  check: SmtpdCheck,
  anvil: AnvilClient | null = null,
): Promise<void> {
  socket.on('error', () => undefined); // the session sees the close
  // In wrapper mode the TLS layer must own the socket before the
  // client's first bytes can be read by anyone else.
  const tls = settings.tls;
  const wrapped =
    tls.wrapperMode && tls.context ? startServerTls(socket, tls) : null;
  const client = await lookupClient(
    socket,
    settings.peernameLookup,
    settings.peernameTimeoutMs,
  );
  await new SmtpdSession(
    wrapped?.secure ?? socket,
    settings,
    check,
    client,
    anvil,
    wrapped?.done ?? null,
  ).run();
}
