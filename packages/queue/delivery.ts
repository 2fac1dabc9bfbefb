// The delivery protocol on private/<transport> (INTERNALS.md), both sides,
// and the delivery log line every agent writes. qmgr calls deliverRequest;
// an agent calls readDeliveryRequest, delivers, then writeDeliveryResults.
//
// API (agents: local, smtp, pipe, error, ...):
//
//   // agent side, on the socket that master handed us
//   const stream = AttrStream.fromSocket(socket);
//   const req: DeliveryRequest = await readDeliveryRequest(stream);
//     // writes protocol=delivery_protocol first, then reads the request
//     // and its req.recipients (DeliveryRecipient[], offset = R record)
//   const fh = await openForDelivery(queuePath(queueDir, req.queueName,
//     req.queueId, config));   // queue_file.ts: r+ and a shared flock
//   ... deliver; for a delivered recipient call
//     markRecipientDone(fh.fd, rcpt.offset) (queue_file.ts) ...
//   await fh.close();          // after the last mark: drops the lock
//   logDelivery({ request: req, recipient: rcpt, relay: 'local',
//                 dsn: '2.0.0', status: 'sent',
//                 reason: 'delivered to mailbox' });
//   await writeDeliveryResults(stream, [
//     { offset: rcpt.offset, status: '2.0.0', action: 'delivered',
//       reason: 'delivered to mailbox' },
//   ]);
//
//   // a whole-destination failure (connect refused) may be added:
//   //   writeDeliveryResults(stream, results, { status: '4.4.1',
//   //     reason: 'connect to ...: Connection refused' })
//
//   // qmgr side
//   const results = await deliverRequest(queueDir, 'local', req);
//     // RecipientResult[] in request order; throws DeliveryError when
//     // the transport breaks the protocol, TransportUnavailableError
//     // when it cannot be reached. deliverRequestOutcome also gives the
//     // site failure. The agent opens the file as
//     // queuePath(queueDir, req.queueName, req.queueId, config).
//
//   formatDelay(0.111) === '0.11'  // Postfix's delay= formatting
//
// Beyond INTERNALS.md the request also carries active_arrival and
// agent_handoff ("sec.usec") so that agents can log delays=a/b/c/d, and
// serveDeliveryRequest does the delivery reports for every agent
// (delivery_trace.ts): a probe (sendmail -bv) never reaches deliver(),
// and -v or NOTIFY=SUCCESS deliveries are recorded in trace/<queue id>.

import type * as net from 'node:net';
import { queuePath } from './mail_queue';
import { AttrStream, connectService, IpcError } from '../ipc/ipc';
import {
  awaitNextRequest,
  KeptConnections,
  NEXT_REQUEST,
  type KeepLimits,
} from '../ipc/kept_connection';
import type { Attrs } from '../ipc/ipc';
import { msg, printable } from '../log/log';
import {
  answerProbe,
  appendTrace,
  collectDeliveries,
  DEL_REQ_TRACE_ONLY,
  noteDelivery,
  traceRecords,
  wantsTrace,
  type TraceTarget,
} from './delivery_trace';

export { DEL_REQ_FLAG, DEL_REQ_TRACE_ONLY, DSN_NOTIFY } from './delivery_trace';

export interface DeliveryRecipient {
  originalRecipient: string;
  recipient: string;
  offset: number; // file offset of the recipient's R record
  dsnOrigRcpt: string;
  notifyFlags: number;
}

export interface DeliveryRequest {
  flags: number;
  queueName: string; // "active"
  queueId: string;
  offset: number; // offset of the M record's data
  size: number; // content size from the C record
  nexthop: string;
  encoding: string;
  sendopts: number;
  sender: string;
  envelopeId: string;
  retFlags: number;
  arrivalTime: number; // seconds since the epoch, with fraction
  activeArrival: number; // when qmgr moved the file into active/
  agentHandoff: number; // when qmgr sent this request
  logClientName: string;
  logClientAddress: string;
  logClientPort: string;
  logProtocolName: string;
  logHeloName: string;
  rewriteContext: string;
  recipients: DeliveryRecipient[];
}

export type DeliveryAction = 'delivered' | 'relayed' | 'failed' | 'delayed';

export interface RecipientResult {
  offset: number;
  status: string; // DSN code, "2.0.0"
  action: DeliveryAction;
  reason: string;
}

export class DeliveryError extends Error {}

// The transport's socket is not there or refuses us: Postfix's "mail
// transport unavailable", as opposed to an agent that broke mid-way.
export class TransportUnavailableError extends DeliveryError {}

// An agent may end with status != 0 and a reason: the destination failed
// as a whole (connection refused, ...), for qmgr's negative feedback.
export interface DeliveryOutcome {
  results: RecipientResult[];
  siteFailure?: { status: string; reason: string };
}

const PROTOCOL = 'delivery_protocol';

// More is a broken or hostile peer: qmgr sends at most the recipient limit.
const MAX_RECIPIENTS = 100_000;

// An agent that says nothing for this long is treated as dead.
const DELIVERY_TIMEOUT_MS = 3600_000;

// Postfix's time stamps on the wire are "sec.usec".
export function formatTime(seconds: number): string {
  const usec = Math.round(seconds * 1e6);
  const sec = Math.floor(usec / 1e6);
  return `${sec}.${String(usec - sec * 1e6).padStart(6, '0')}`;
}

function parseTime(text: string | undefined): number {
  const value = Number(text ?? '0');
  return Number.isFinite(value) ? value : 0;
}

function requestAttrs(req: DeliveryRequest): Record<string, string | number> {
  return {
    flags: req.flags,
    queue_name: req.queueName,
    queue_id: req.queueId,
    offset: req.offset,
    size: req.size,
    nexthop: req.nexthop,
    encoding: req.encoding,
    sendopts: req.sendopts,
    sender: req.sender,
    envelope_id: req.envelopeId,
    ret_flags: req.retFlags,
    arrival_time: formatTime(req.arrivalTime),
    active_arrival: formatTime(req.activeArrival),
    agent_handoff: formatTime(req.agentHandoff),
    log_client_name: req.logClientName,
    log_client_address: req.logClientAddress,
    log_client_port: req.logClientPort,
    log_protocol_name: req.logProtocolName,
    log_helo_name: req.logHeloName,
    rewrite_context: req.rewriteContext,
    rcpt_count: req.recipients.length,
  };
}

function recipientAttrs(
  rcpt: DeliveryRecipient,
): Record<string, string | number> {
  return {
    original_recipient: rcpt.originalRecipient,
    recipient: rcpt.recipient,
    offset: rcpt.offset,
    dsn_orig_rcpt: rcpt.dsnOrigRcpt,
    notify_flags: rcpt.notifyFlags,
  };
}

// A whole non-negative number, or a DeliveryError naming the attribute.
function wholeNumber(attrs: Attrs, name: string): number {
  const text = attrs[name];
  if (text === undefined || !/^\d+$/.test(text))
    throw new DeliveryError(`bad or missing attribute ${name}`);
  return Number(text);
}

function parseRequest(a: Attrs): Omit<DeliveryRequest, 'recipients'> {
  if (!a.queue_id || !/^[A-Za-z0-9]+$/.test(a.queue_id))
    throw new DeliveryError('bad or missing attribute queue_id');
  return {
    flags: wholeNumber(a, 'flags'),
    queueName: a.queue_name ?? 'active',
    queueId: a.queue_id,
    offset: wholeNumber(a, 'offset'),
    size: wholeNumber(a, 'size'),
    nexthop: a.nexthop ?? '',
    encoding: a.encoding ?? '',
    sendopts: Number(a.sendopts ?? 0) || 0,
    sender: a.sender ?? '',
    envelopeId: a.envelope_id ?? '',
    retFlags: Number(a.ret_flags ?? 0) || 0,
    arrivalTime: parseTime(a.arrival_time),
    activeArrival: parseTime(a.active_arrival ?? a.arrival_time),
    agentHandoff: parseTime(a.agent_handoff ?? a.arrival_time),
    logClientName: a.log_client_name ?? '',
    logClientAddress: a.log_client_address ?? '',
    logClientPort: a.log_client_port ?? '',
    logProtocolName: a.log_protocol_name ?? '',
    logHeloName: a.log_helo_name ?? '',
    rewriteContext: a.rewrite_context ?? '',
  };
}

function parseRecipient(a: Attrs): DeliveryRecipient {
  if (a.recipient === undefined)
    throw new DeliveryError('bad or missing attribute recipient');
  return {
    originalRecipient: a.original_recipient ?? '',
    recipient: a.recipient,
    offset: wholeNumber(a, 'offset'),
    dsnOrigRcpt: a.dsn_orig_rcpt ?? '',
    notifyFlags: Number(a.notify_flags ?? 0) || 0,
  };
}

const ACTIONS: readonly string[] = [
  'delivered',
  'relayed',
  'failed',
  'delayed',
];

function parseResult(a: Attrs): RecipientResult {
  if (!ACTIONS.includes(a.action ?? ''))
    throw new DeliveryError(`bad action in result: ${a.action ?? '(none)'}`);
  if (!/^[245]\.\d{1,3}\.\d{1,3}$/.test(a.status ?? ''))
    throw new DeliveryError(`bad status in result: ${a.status ?? '(none)'}`);
  return {
    offset: wholeNumber(a, 'offset'),
    status: a.status,
    action: a.action as DeliveryAction,
    reason: a.reason ?? '',
  };
}

// Agent side: announce the protocol and read one request; offerReuse
// says the connection may carry another (kept_connection.ts).
export async function readDeliveryRequest(
  stream: AttrStream,
  offerReuse = false,
): Promise<DeliveryRequest> {
  stream.writeAttrs(
    offerReuse ? { protocol: PROTOCOL, reuse: 1 } : { protocol: PROTOCOL },
  );
  const attrs = await stream.readAttrs();
  const head = parseRequest(attrs);
  const count = wholeNumber(attrs, 'rcpt_count');
  if (count > MAX_RECIPIENTS)
    throw new DeliveryError(`too many recipients in request: ${count}`);
  const recipients: DeliveryRecipient[] = [];
  for (let i = 0; i < count; i++)
    recipients.push(parseRecipient(await stream.readAttrs()));
  return { ...head, recipients };
}

// Agent side: one result per recipient, then the final status; with
// siteFailure the destination as a whole failed (qmgr throttles it).
export async function writeDeliveryResults(
  stream: AttrStream,
  results: RecipientResult[],
  siteFailure?: { status: string; reason: string },
): Promise<void> {
  for (const r of results)
    stream.writeAttrs({
      offset: r.offset,
      status: r.status,
      action: r.action,
      reason: r.reason,
    });
  if (siteFailure)
    stream.writeAttrs({
      status: 1,
      dsn_status: siteFailure.status,
      reason: siteFailure.reason,
    });
  else stream.writeAttrs({ status: 0 });
  await stream.drain();
}

export interface AgentAnswer {
  results: RecipientResult[];
  siteFailure?: { status: string; reason: string };
}

// Where a request's queue file is, for serveDeliveryRequest; it also
// carries what the agent's delivery reports need (trace/<queue id>).
export interface QueueFileOf {
  (req: DeliveryRequest): string;
  trace?: TraceTarget;
}

export function queueFileOf(ctx: {
  queueDir: string;
  config: TraceTarget['config'];
  serviceName?: string;
}): QueueFileOf {
  const of: QueueFileOf = (req) =>
    queuePath(ctx.queueDir, req.queueName, req.queueId, ctx.config);
  of.trace = {
    queueDir: ctx.queueDir,
    config: ctx.config,
    service: ctx.serviceName ?? '',
  };
  return of;
}

// A probe (sendmail -bv) is answered here, for every agent, and
// never reaches deliver(). With -v or NOTIFY=SUCCESS the deliveries that
// deliver() logs are recorded in trace/<queue id> before qmgr hears of
// them, as Postfix's agents do before they reply.
async function deliverTraced(
  req: DeliveryRequest,
  queueFile: QueueFileOf,
  deliver: (req: DeliveryRequest, file: string) => Promise<AgentAnswer>,
): Promise<AgentAnswer> {
  const t = queueFile.trace;
  if (t && req.flags & DEL_REQ_TRACE_ONLY) {
    const probe = answerProbe(t, req);
    for (const e of probe.entries) logDelivery(e);
    await appendTrace(t, req.queueId, probe.records);
    return probe.answer;
  }
  if (!t || !wantsTrace(req)) return deliver(req, queueFile(req));
  const { answer, entries } = await collectDeliveries(req, () =>
    deliver(req, queueFile(req)),
  );
  await recordTrace(t, req, traceRecords(req, answer, entries));
  return answer;
}

// XXX Postfix defers a recipient whose trace record could not be
// written; here the delivery stands and the report lacks that line, so
// that a failed report never makes a second copy of the mail.
async function recordTrace(
  t: TraceTarget,
  req: DeliveryRequest,
  records: Parameters<typeof appendTrace>[2],
): Promise<void> {
  try {
    await appendTrace(t, req.queueId, records);
  } catch (err) {
    msg.warn(`${req.queueId}: trace service failure: ${errText(err)}`);
  }
}

// The agent side of one qmgr connection, shared by every delivery agent:
// read the request, let deliver() work on the queue file (its path
// given), answer, close. A broken request is logged and the connection
// dropped; qmgr then defers the recipients. With reuse given, the agent
// offers the connection for more requests and serves those qmgr sends
// (kept_connection.ts; smtp and lmtp do).
export async function serveDeliveryRequest(
  socket: net.Socket,
  queueFile: QueueFileOf,
  deliver: (req: DeliveryRequest, file: string) => Promise<AgentAnswer>,
  reuse?: KeepLimits,
): Promise<void> {
  const stream = AttrStream.fromSocket(socket);
  const since = Date.now();
  try {
    do {
      const req = await readDeliveryRequest(stream, reuse !== undefined);
      const out = await deliverTraced(req, queueFile, deliver);
      await writeDeliveryResults(stream, out.results, out.siteFailure);
    } while (reuse && (await awaitNextRequest(stream, reuse, since)));
    stream.close();
  } catch (err) {
    msg.warn(`serveDeliveryRequest: ${(err as Error).message}`);
    stream.destroy();
  }
}

async function readResults(
  stream: AttrStream,
  count: number,
): Promise<DeliveryOutcome> {
  const results: RecipientResult[] = [];
  for (let i = 0; i < count; i++)
    results.push(parseResult(await stream.readAttrs()));
  const final = await stream.readAttrs();
  if (final.status === undefined)
    throw new DeliveryError('missing final status');
  if (final.status === '0') return { results };
  const siteFailure = {
    status: final.dsn_status ?? '4.0.0',
    reason: final.reason ?? 'delivery failed',
  };
  return { results, siteFailure };
}

// The agent greets at once when it takes the connection; a greeting that
// does not come within greetMs (qmgr_ipc_timeout) means no agent holds
// the connection, as when one is stuck before it greets. Postfix's qmgr
// ends itself there ("timeout connecting to transport"); ours defers that
// delivery and goes on. (master no longer loses a connection handed to an
// agent that dies first: test/master_handoff_test.ts.) True when the
// agent offers to serve more requests on the connection.
async function greeting(
  stream: AttrStream,
  transport: string,
  greetMs: number,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      stream.destroy();
      reject(
        new DeliveryError(`timeout connecting to transport: ${transport}`),
      );
    }, greetMs);
  });
  const hello = await Promise.race([stream.readAttrs(), late]).finally(() =>
    clearTimeout(timer),
  );
  if (hello.protocol !== PROTOCOL)
    throw new DeliveryError(
      `unexpected protocol: ${hello.protocol ?? '(none)'}`,
    );
  return hello.reuse === '1';
}

function exchange(
  stream: AttrStream,
  req: DeliveryRequest,
): Promise<DeliveryOutcome> {
  stream.writeAttrs(requestAttrs(req));
  for (const rcpt of req.recipients) stream.writeAttrs(recipientAttrs(rcpt));
  return readResults(stream, req.recipients.length);
}

// qmgr's idle connections to agents, by queue directory and transport.
const kept = new KeptConnections();
const keptKey = (queueDir: string, transport: string) =>
  `${queueDir}\0${transport}`;

// For tests: close the connections qmgr keeps.
export function closeKeptConnections(): void {
  kept.closeAll();
}

// A kept connection whose agent greeted again, or null: none is kept, or
// each kept one failed before any request went on it.
async function keptConnection(
  queueDir: string,
  transport: string,
  greetMs: number,
): Promise<AttrStream | null> {
  for (;;) {
    const stream = kept.take(keptKey(queueDir, transport));
    if (!stream) return null;
    try {
      stream.writeAttrs(NEXT_REQUEST);
      if (await greeting(stream, transport, greetMs)) return stream;
    } catch {
      // Closed or gone meanwhile: try the next, then a new connection.
    }
    stream.destroy();
  }
}

// qmgr side: one request to private/<transport>; the results in the order
// the agent sent them. A transport that cannot be reached, times out or
// breaks the protocol is a DeliveryError; qmgr defers what is left.
export async function deliverRequest(
  queueDir: string,
  transport: string,
  req: DeliveryRequest,
  timeoutMs = DELIVERY_TIMEOUT_MS,
): Promise<RecipientResult[]> {
  return (await deliverRequestOutcome(queueDir, transport, req, timeoutMs))
    .results;
}

// As deliverRequest, with the agent's site failure report when it sent one.
export async function deliverRequestOutcome(
  queueDir: string,
  transport: string,
  req: DeliveryRequest,
  timeoutMs = DELIVERY_TIMEOUT_MS,
  greetMs = timeoutMs,
): Promise<DeliveryOutcome> {
  let stream = await keptConnection(queueDir, transport, greetMs);
  const reused = stream !== null;
  if (!stream)
    try {
      stream = await connectService(queueDir, 'private', transport, 10_000);
    } catch (err) {
      throw new TransportUnavailableError(
        `connect to transport private/${transport}: ${strerror(errText(err))}`,
      );
    }
  const open = stream;
  const timer = setTimeout(() => open.destroy(), timeoutMs);
  let keep = false;
  try {
    keep = reused || (await greeting(open, transport, greetMs));
    return await exchange(open, req);
  } catch (err) {
    keep = false;
    if (err instanceof DeliveryError) throw err;
    throw new DeliveryError(`transport ${transport}: ${errText(err)}`);
  } finally {
    clearTimeout(timer);
    if (keep && !open.socket.destroyed)
      kept.keep(keptKey(queueDir, transport), open);
    else open.destroy();
  }
}

// Node's "connect ENOENT /path" in the words Postfix logs (strerror).
const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  ECONNREFUSED: 'Connection refused',
  EACCES: 'Permission denied',
  ENOTSOCK: 'Socket operation on non-socket',
};

function strerror(text: string): string {
  const code = /\b(E[A-Z]+)\b/.exec(text)?.[1];
  return (code && STRERROR[code]) || text;
}

function errText(err: unknown): string {
  if (err instanceof IpcError || err instanceof Error) return err.message;
  return String(err);
}

// Postfix's format_tv: two significant digits, at most two decimals,
// rounded half up, trailing zeros dropped; ten seconds and more as whole
// seconds.
export function formatDelay(seconds: number): string {
  const usec = Math.max(0, Math.round(seconds * 1e6));
  const decimals = usec >= 10e6 ? 0 : usec >= 1e6 ? 1 : 2;
  const unit = 10 ** (6 - decimals);
  const scaled = Math.floor((usec + unit / 2) / unit);
  const whole = Math.floor(scaled / 10 ** decimals);
  const frac = String(scaled - whole * 10 ** decimals)
    .padStart(decimals, '0')
    .replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : `${whole}`;
}

export type DeliveryStatus =
  'sent' | 'deferred' | 'bounced' | 'expired' | 'deliverable' | 'undeliverable';

export interface DeliveryLogEntry {
  request: Pick<
    DeliveryRequest,
    'queueId' | 'arrivalTime' | 'activeArrival' | 'agentHandoff'
  >;
  recipient: Pick<DeliveryRecipient, 'recipient' | 'originalRecipient'>;
  relay: string; // "local", "none", "host[addr]:port"
  dsn: string;
  status: DeliveryStatus;
  reason: string;
  connectSetup?: number; // seconds spent before transmission (delays c)
  now?: number; // seconds since the epoch; default the clock
}

// delays=a/b/c/d: before qmgr, in qmgr, connection setup, transmission.
function delays(e: DeliveryLogEntry, now: number): string {
  const r = e.request;
  const a = r.activeArrival - r.arrivalTime;
  const b = r.agentHandoff - r.activeArrival;
  const c = e.connectSetup ?? 0;
  const d = now - r.agentHandoff - c;
  return [a, b, c, d].map((x) => formatDelay(Math.max(0, x))).join('/');
}

// Every agent builds its log lines here, so this is also where the
// request being served (delivery_trace.ts) learns of each delivery.
export function deliveryLogLine(e: DeliveryLogEntry): string {
  noteDelivery(e);
  const now = e.now ?? Date.now() / 1000;
  const rcpt = e.recipient;
  const orig =
    rcpt.originalRecipient &&
    rcpt.originalRecipient.toLowerCase() !== rcpt.recipient.toLowerCase()
      ? `, orig_to=<${rcpt.originalRecipient}>`
      : '';
  return (
    `${e.request.queueId}: to=<${rcpt.recipient}>${orig}, ` +
    `relay=${e.relay}, ` +
    `delay=${formatDelay(now - e.request.arrivalTime)}, ` +
    `delays=${delays(e, now)}, dsn=${e.dsn}, status=${e.status} ` +
    `(${printable(e.reason, 1000)})`
  );
}

export function logDelivery(e: DeliveryLogEntry): void {
  msg.info(deliveryLogLine(e));
}
