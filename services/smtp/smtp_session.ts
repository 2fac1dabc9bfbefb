// One SMTP or LMTP session on nodemailer's SMTPConnection: connect (TCP
// or a Unix socket), greeting and EHLO/LHLO, then one send. Every failure
// becomes an Outcome in Postfix's words; nothing the peer sends may throw.
// STARTTLS is smtp_tls.ts's. A session can also be rebuilt on a socket
// from the connection cache. Limits: nodemailer has one inactivity
// timeout for the whole MAIL..end-of-data exchange.

import * as net from 'node:net';
import type { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { stopReading } from '../../packages/ipc/scache_proto';
import type { Target } from './smtp_addr';
import { useRcptDsn, type RcptDsnTable } from './smtp_rcpt_dsn';
import {
  connectReason,
  lostReason,
  PHASE,
  refusedReason,
  saidReason,
  timeoutReason,
  tooLongReason,
  type Outcome,
  type Phase,
} from './smtp_reason';
import {
  checkClientTls,
  clientTlsOptions,
  RETRY_PLAINTEXT,
  type ClientTls,
} from './smtp_tls';

export interface SessionSettings {
  lmtp: boolean;
  heloName: string;
  connectTimeoutMs: number; // 0 = none
  heloTimeoutMs: number;
  // XXX with PIPELINING nodemailer sends MAIL, RCPT and DATA at once, so
  // the largest of smtp_mail/rcpt/data_init_timeout covers all three.
  envelopeTimeoutMs: number;
  xferTimeoutMs: number; // smtp_data_xfer_timeout
  doneTimeoutMs: number; // smtp_data_done_timeout
  quitTimeoutMs: number;
  rsetTimeoutMs?: number; // smtp_rset_timeout; 20 s when unset
  tls?: ClientTls; // smtp_tls_*; none when unset
}

interface PeerError extends Error {
  code?: string;
  originalCode?: string;
  response?: string;
  command?: string;
  recipient?: string;
  rejectedErrors?: PeerError[];
}

interface SendResult {
  err?: PeerError;
  info?: SMTPConnection.SentMessageInfo;
}

// What the connection cache keeps beside the socket (Postfix's endpoint
// properties): what the session was, for the agent that takes it next.
export interface EndpointProps {
  peer: string;
  relay: string;
  greeting: string;
  ehlo: string; // the reply to EHLO or LHLO: what the peer offers
  openedAt: number;
  uses: number;
}

interface PeerNames {
  peer: string;
  relay: string;
}

function closedError(): PeerError {
  return Object.assign(new Error('connection closed'), {
    code: 'ECONNECTION',
  });
}

export class Session {
  readonly #conn: SMTPConnection;
  readonly #quitMs: number;
  readonly #rsetMs: number;
  readonly peer: string; // host[addr]
  readonly relay: string; // host[addr]:port
  #phase: Phase = PHASE.ENVELOPE;
  readonly #timeouts: Record<Phase, number>;

  readonly #replies: string[];
  readonly openedAt: number;
  uses = 0; // transactions sent on this connection
  readonly adopted: boolean; // rebuilt on a socket from the cache
  endp?: string; // the connection cache's endpoint label

  constructor(
    conn: SMTPConnection,
    target: Target | PeerNames,
    s: SessionSettings,
    replies: string[],
    props?: EndpointProps,
  ) {
    this.#conn = conn;
    this.#replies = replies;
    // SMTP needs only the greeting and EHLO replies, which are in: the
    // transaction log costs a log entry per command and reply. LMTP
    // reads each recipient's reply to the content from it.
    if (!s.lmtp) conn.options.transactionLog = false;
    this.#quitMs = s.quitTimeoutMs;
    this.#rsetMs = s.rsetTimeoutMs ?? 20_000;
    this.#timeouts = {
      [PHASE.CONNECT]: s.heloTimeoutMs,
      [PHASE.ENVELOPE]: s.envelopeTimeoutMs,
      [PHASE.BODY]: s.xferTimeoutMs,
      [PHASE.END]: s.doneTimeoutMs,
    };
    const names = 'kind' in target ? namesOf(target) : target;
    this.peer = names.peer;
    this.relay = names.relay;
    this.openedAt = props?.openedAt ?? Date.now();
    this.uses = props?.uses ?? 0;
    this.adopted = props !== undefined;
  }

  get props(): EndpointProps {
    const { peer, relay, openedAt, uses } = this;
    const [greeting = '', ehlo = ''] = this.#replies;
    return { peer, relay, greeting, ehlo, openedAt, uses };
  }

  // Takes the socket away from nodemailer, idle and unread, for the
  // connection cache; undefined when the connection is gone or under TLS
  // (its state lives in this process and cannot travel with the socket).
  // XXX nodemailer has no API to release its socket: this removes the
  // listeners it set and marks it destroyed through its private fields.
  detach(): net.Socket | undefined {
    const c = this.#conn as unknown as {
      _socket?: net.Socket | false;
      _destroyed?: boolean;
      secure?: boolean;
    };
    const socket = c._socket;
    if (!socket || socket.destroyed || c._destroyed || c.secure) return;
    for (const event of ['data', 'timeout', 'close', 'end', 'error'])
      socket.removeAllListeners(event);
    socket.setTimeout(0);
    socket.pause();
    stopReading(socket as never);
    socket.on('error', () => undefined);
    c._destroyed = true;
    return socket;
  }

  get phase(): Phase {
    return this.#phase;
  }

  // Each step has its own smtp_*_timeout: nodemailer's inactivity timer
  // on its socket is set anew (its 'timeout' listener stays).
  set phase(phase: Phase) {
    this.#phase = phase;
    const c = this.#conn as unknown as { _socket?: net.Socket | false };
    if (c._socket) c._socket.setTimeout(this.#timeouts[phase]);
  }

  // The replies to the greeting and to EHLO (or HELO/LHLO).
  get greetings(): string[] {
    return this.#replies.slice(0, 2);
  }

  // The last n server replies, oldest first: for LMTP, one per recipient
  // accepted at RCPT, in RCPT order (RFC 2033 section 4.2).
  lastReplies(n: number): string[] {
    return n > 0 ? this.#replies.slice(-n) : [];
  }

  // What EHLO offered, read from nodemailer's own fields (it has no
  // public accessor): the extension names and the SIZE limit (0 = none).
  get extensions(): string[] {
    const c = this.#conn as unknown as { _supportedExtensions?: string[] };
    return c._supportedExtensions ?? [];
  }

  get sizeLimit(): number {
    const c = this.#conn as unknown as { _maxAllowedSize?: number };
    return c._maxAllowedSize ?? 0;
  }

  get envelopeErrors(): PeerError[] {
    // The recipients refused so far; nodemailer keeps them on the
    // envelope, also when a later DATA step fails the whole send.
    const env = (
      this.#conn as unknown as { _envelope?: { rejectedErrors?: PeerError[] } }
    )._envelope;
    return env?.rejectedErrors ?? [];
  }

  // Resolves once: nodemailer's callback, or a close that it did not
  // report (checked a moment later, so that its own error wins).
  send(
    envelope: SMTPConnection.Envelope,
    body: Readable,
    rcptDsn?: RcptDsnTable,
  ) {
    this.phase = PHASE.ENVELOPE;
    if (rcptDsn) useRcptDsn(this.#conn, rcptDsn);
    return new Promise<SendResult>((resolve) => {
      const lost = () =>
        setTimeout(() => resolve({ err: closedError() }), 100).unref();
      this.#conn.once('end', lost);
      // A reused session sends many times: one listener at a time.
      this.#conn.send(envelope, body, (err, info) => {
        this.#conn.off('end', lost);
        resolve(err ? { err: err as PeerError } : { info });
      });
    });
  }

  // RSET before a transaction on a reused connection; false when the
  // peer is gone or refuses, and the connection is not to be used.
  reset(): Promise<boolean> {
    const conn = this.#conn as unknown as { destroyed?: boolean };
    if (conn.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => {
      // A peer that does not answer within smtp_rset_timeout is gone:
      // no QUIT to wait on either.
      const timer = setTimeout(() => {
        this.#conn.close();
        resolve(false);
      }, this.#rsetMs);
      this.#conn.reset((err) => {
        clearTimeout(timer);
        resolve(!err);
      });
    });
  }

  // QUIT, but never wait on a peer longer than smtp_quit_timeout.
  close(): void {
    const conn = this.#conn;
    const timer = setTimeout(() => conn.close(), this.#quitMs);
    timer.unref();
    conn.once('end', () => clearTimeout(timer));
    try {
      conn.quit();
    } catch {
      conn.close();
    }
  }
}

export function peerName(target: Target): string {
  return target.kind === 'inet'
    ? `${target.host}[${target.addr}]`
    : `${target.host}[${target.path}]`;
}

// Connect and greet; resolves with a session or an Outcome to try the
// next host with.
export async function openSession(
  target: Target,
  s: SessionSettings,
  plaintext = false, // the retry after a failed opportunistic handshake
): Promise<Session | Outcome> {
  const where =
    target.kind === 'inet' ? `${peerName(target)}:${target.port}` : target.path;
  let socket: net.Socket | undefined;
  if (target.kind === 'unix') {
    const opened = await connectUnix(target.path, s.connectTimeoutMs);
    if (!(opened instanceof net.Socket)) return connectReason(where, opened);
    socket = opened;
  }
  const replies: string[] = [];
  const options = connectionOptions(target, s, socket);
  const tlsOptions = clientTlsOptions(s.tls, plaintext);
  const conn = new SMTPConnection({
    ...options,
    ...tlsOptions,
    ...replyLogger(replies),
  });
  const err = await greet(conn);
  const tls = checkClientTls(conn, err, target, s.tls, plaintext);
  if (!err && !tls) return new Session(conn, target, s, replies);
  conn.close();
  if (tls === RETRY_PLAINTEXT) return openSession(target, s, true);
  return tls ?? greetingOutcome(err!, where, peerName(target));
}

function namesOf(target: Target): PeerNames {
  const peer = peerName(target);
  const relay = target.kind === 'inet' ? `${peer}:${target.port}` : peer;
  return { peer, relay };
}

// A session on a socket from the connection cache, checked with RSET as
// Postfix does. nodemailer cannot start on a socket in the EHLO-done
// state: it waits for a greeting and sends EHLO. So it is given the
// peer's greeting and EHLO reply again, from the cache, and its EHLO is
// kept off the wire; then RSET tells whether the peer is still there.
export async function adoptSession(
  socket: net.Socket,
  prop: string,
  s: SessionSettings,
): Promise<Session | undefined> {
  const props = parseProps(prop);
  if (!props) {
    socket.destroy();
    return undefined;
  }
  socket.unshift(
    Buffer.from(wireReply(props.greeting) + wireReply(props.ehlo)),
  );
  const replies: string[] = [];
  const options = { ...adoptOptions(s, socket), ...replyLogger(replies) };
  const restore = holdBackHello(socket);
  const conn = new SMTPConnection(options);
  const err = await greet(conn);
  restore();
  if (err) {
    conn.close();
    return undefined;
  }
  const session = new Session(conn, props, s, replies, props);
  if (await session.reset()) return session;
  session.close();
  return undefined;
}

// XXX nodemailer has no way to skip EHLO: this drops the first EHLO or
// LHLO it writes to the socket, which is the answer to the greeting we
// replayed (test/smtp_adopt_test.ts fails if that changes).
function holdBackHello(socket: net.Socket): () => void {
  const write = socket.write;
  const restore = () => {
    socket.write = write;
  };
  socket.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (!/^(EHLO|LHLO) /.test(String(chunk)))
      return (write as (...a: unknown[]) => boolean).call(
        socket,
        chunk,
        ...rest,
      );
    restore();
    const done = rest.find((r) => typeof r === 'function') as
      (() => void) | undefined;
    if (done) process.nextTick(done);
    return true;
  }) as typeof socket.write;
  return restore;
}

function parseProps(text: string): EndpointProps | undefined {
  try {
    const p = JSON.parse(text) as EndpointProps;
    const ok =
      typeof p.peer === 'string' &&
      /^2\d\d/.test(p.greeting) &&
      /^2\d\d/.test(p.ehlo ?? '');
    return ok ? p : undefined;
  } catch {
    return undefined;
  }
}

// nodemailer logs a reply's lines joined by a newline.
function wireReply(text: string): string {
  return text.split(/\r?\n/).join('\r\n') + '\r\n';
}

// A cached session was plaintext: no STARTTLS on it now.
function adoptOptions(
  s: SessionSettings,
  socket: net.Socket,
): SMTPConnection.Options {
  return {
    connection: socket,
    name: s.heloName,
    lmtp: s.lmtp,
    ignoreTLS: true,
    connectionTimeout: s.heloTimeoutMs,
    greetingTimeout: s.heloTimeoutMs,
    socketTimeout: s.heloTimeoutMs,
    socketCloseTimeout: 0,
  };
}

const MAX_KEPT_REPLIES = 1000;

// nodemailer tells each whole server reply only to its transaction log;
// LMTP needs them to give each recipient its own reply after DATA.
function replyLogger(replies: string[]) {
  const record = (entry: { tnx?: string }, text: unknown) => {
    if (entry?.tnx !== 'server') return;
    replies.push(String(text));
    if (replies.length > MAX_KEPT_REPLIES) replies.shift();
  };
  const quiet = () => {};
  const logger = {
    debug: record,
    trace: quiet,
    info: quiet,
    warn: quiet,
    error: quiet,
    fatal: quiet,
  };
  return { logger: logger as never, transactionLog: true };
}

// Some failures (a refusing greeting) reach only the 'error' or 'end'
// event, not the connect callback: the first of the three decides. The
// 'error' listener stays, as an unheard 'error' would end the agent.
function greet(conn: SMTPConnection): Promise<PeerError | undefined> {
  return new Promise((resolve) => {
    conn.on('error', (e) => resolve(e as PeerError));
    conn.once('end', () => resolve(closedError()));
    conn.connect((e) => resolve(e as PeerError | undefined));
  });
}

function connectionOptions(
  target: Target,
  s: SessionSettings,
  socket: net.Socket | undefined,
): SMTPConnection.Options {
  const connectMs = s.connectTimeoutMs || 24 * 3600_000;
  return {
    ...(target.kind === 'inet'
      ? { host: target.addr, port: target.port }
      : { connection: socket }),
    name: s.heloName,
    lmtp: s.lmtp,
    connectionTimeout: connectMs + s.heloTimeoutMs,
    greetingTimeout: s.heloTimeoutMs,
    socketTimeout: s.heloTimeoutMs,
    socketCloseTimeout: 0,
  };
}

function connectUnix(path: string, timeoutMs: number) {
  return new Promise<net.Socket | string>((resolve) => {
    const socket = net.connect({ path });
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            socket.destroy();
            resolve('ETIMEDOUT');
          }, timeoutMs)
        : undefined;
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code ?? 'EIO');
    });
  });
}

// What failed before the session was ready, in Postfix's words.
function greetingOutcome(err: PeerError, where: string, peer: string): Outcome {
  const errno = err.originalCode ?? '';
  if (/^E[A-Z]+$/.test(errno) && errno !== 'ETIMEDOUT')
    return connectReason(where, errno);
  if (err.response && /^(EHLO|HELO|LHLO)$/.test(err.command ?? ''))
    return saidReason(peer, err.response, err.command!);
  if (err.response) return refusedReason(peer, err.response);
  return sessionFailure(err, peer, PHASE.CONNECT);
}

// A failure with no reply to quote: a timeout, a reply too long, or a
// connection that went away.
export function sessionFailure(
  err: PeerError,
  peer: string,
  phase: Phase,
): Outcome {
  if (/exceeds maximum allowed size/.test(err.message))
    return tooLongReason(peer);
  if (err.code === 'ETIMEDOUT' || err.originalCode === 'ETIMEDOUT')
    return timeoutReason(peer, phase);
  return lostReason(peer, phase);
}

export type { PeerError };
