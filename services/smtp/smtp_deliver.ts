// One delivery request for the smtp or lmtp client: find the hosts, try
// them in order (then smtp_fallback_relay), send once, mark delivered
// recipients done in the queue file and log each with Postfix's reason.
// Used by smtp.ts and by the tests. Idle sessions go to this process's
// SessionCache, then to the shared scache; a request asks both before it
// connects.

import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { Config } from '../../packages/config/config';
import { msg } from '../../packages/log/log';
import {
  deliveryLogLine,
  type DeliveryRequest,
  type DeliveryRecipient,
  type DeliveryStatus,
  type RecipientResult,
} from '../../packages/queue/delivery';
import {
  lockQueueFileShared,
  markRecipientDoneSync,
} from '../../packages/queue/queue_file';
import {
  lookupTargets,
  LookupError,
  parseNexthop,
  type LookupSettings,
  type Target,
} from './smtp_addr';
import { ContentStream } from './smtp_content';
import { downgradeTo7bit } from './smtp_mime';
import {
  notifyKeyword,
  orcptOf,
  type RcptDsn,
  type RcptDsnTable,
} from './smtp_rcpt_dsn';
import { SessionCache, type CacheLimits } from './smtp_cache';
import { ScacheClient, type CachedSocket } from './smtp_scache';
import { loadClientTls } from './smtp_tls';
import { dsnAction, PHASE, saidReason, type Outcome } from './smtp_reason';
import {
  adoptSession,
  openSession,
  sessionFailure,
  Session,
  type PeerError,
  type SessionSettings,
} from './smtp_session';

export interface SmtpSettings extends SessionSettings, LookupSettings {
  defaultPort: number;
  fallbackRelays: string[];
  mimeConversion: boolean; // !disable_mime_output_conversion
  // XXX Postfix caches on demand only when qmgr reports a backlog for
  // the destination; here smtp_connection_cache_on_demand = yes caches
  // after every success (qmgr sends no such flag yet).
  cache?: SessionCache; // first level: this process
  shared?: ScacheClient; // second level: scache, for every smtp process
  cacheLimits: CacheLimits;
  onDemand?: boolean; // smtp_connection_cache_on_demand
  cacheDestinations?: string[]; // smtp_connection_cache_destinations
  service?: string; // master.cf service name, part of the cache labels
}

export function loadSmtpSettings(
  config: Config,
  lmtp: boolean,
  service: string = lmtp ? 'lmtp' : 'smtp',
): SmtpSettings {
  const p = lmtp ? 'lmtp' : 'smtp';
  const ms = (name: string) => config.time(name) * 1000;
  const get = (name: string) => config.get(name);
  const steps = ['mail', 'rcpt', 'data_init'];
  return {
    lmtp,
    heloName: get(lmtp ? 'lmtp_lhlo_name' : 'smtp_helo_name'),
    connectTimeoutMs: ms(`${p}_connect_timeout`),
    heloTimeoutMs: ms(lmtp ? 'lmtp_lhlo_timeout' : 'smtp_helo_timeout'),
    envelopeTimeoutMs: Math.max(...steps.map((s) => ms(`${p}_${s}_timeout`))),
    xferTimeoutMs: ms(`${p}_data_xfer_timeout`),
    doneTimeoutMs: ms(`${p}_data_done_timeout`),
    quitTimeoutMs: ms(`${p}_quit_timeout`),
    rsetTimeoutMs: ms(`${p}_rset_timeout`),
    resolverAddress: get(`${p}_dns_resolver_address`),
    myhostname: config.get('myhostname'),
    timeoutMs: 5000,
    defaultPort: lmtp ? Number(get('lmtp_tcp_port')) : 25,
    fallbackRelays: lmtp ? [] : config.list('smtp_fallback_relay'),
    mimeConversion: !config.bool('disable_mime_output_conversion'),
    tls: loadClientTls(config, p),
    ...cacheSettings(config, p, service),
  };
}

function cacheSettings(config: Config, p: string, service: string) {
  const onDemand = config.bool(`${p}_connection_cache_on_demand`);
  const cacheDestinations = config
    .list(`${p}_connection_cache_destinations`)
    .map((d) => d.toLowerCase());
  const used = onDemand || cacheDestinations.length > 0;
  const protocolMs = config.time('connection_cache_protocol_timeout') * 1000;
  return {
    onDemand,
    cacheDestinations,
    service,
    cache: used ? new SessionCache() : undefined,
    shared: used ? ScacheClient.forThisProcess(protocolMs) : undefined,
    cacheLimits: {
      idleMs: config.time(`${p}_connection_cache_time_limit`) * 1000,
      reuseMs: config.time(`${p}_connection_reuse_time_limit`) * 1000,
      reuseCount: config.int(`${p}_connection_reuse_count_limit`),
    },
  };
}

export interface SmtpOutcome {
  results: RecipientResult[];
  siteFailure?: { status: string; reason: string };
}

interface Job {
  s: SmtpSettings;
  req: DeliveryRequest;
  file: string;
  fd: number;
  started: number;
  setup?: number; // seconds until the session was ready
  connUse: number; // transactions on this connection, this one included
  results: RecipientResult[];
}

export async function deliverSmtpRequest(
  s: SmtpSettings,
  req: DeliveryRequest,
  file: string,
): Promise<SmtpOutcome> {
  const fd = fs.openSync(file, 'r+');
  const started = Date.now();
  const job: Job = { s, req, file, fd, started, connUse: 0, results: [] };
  try {
    await lockQueueFileShared(fd);
    return await deliverJob(job);
  } finally {
    fs.closeSync(fd);
  }
}

async function deliverJob(job: Job): Promise<SmtpOutcome> {
  const cached = await cachedForDest(job);
  if (cached) {
    await sendAndKeep(job, cached);
    return { results: job.results };
  }
  let targets: Target[];
  try {
    targets = await allTargets(job);
  } catch (err) {
    if (!(err instanceof LookupError)) throw err;
    const o = { dsn: err.dsn, reason: err.message };
    for (const r of job.req.recipients) await finish(job, r, 'none', o);
    return { results: job.results };
  }
  const opened = await firstSession(targets, job);
  if (!(opened instanceof Session)) {
    for (const r of job.req.recipients) await finish(job, r, 'none', opened);
    return {
      results: job.results,
      siteFailure: { status: opened.dsn, reason: opened.reason },
    };
  }
  await sendAndKeep(job, opened);
  return { results: job.results };
}

// Caching applies on demand, or to smtp_connection_cache_destinations.
function cacheable(job: Job): boolean {
  const { s } = job;
  if (!s.cache) return false;
  if (s.onDemand ?? true) return true;
  return (s.cacheDestinations ?? []).includes(job.req.nexthop.toLowerCase());
}

// Postfix's labels: a destination is transport and nexthop, an endpoint
// transport, address and port (or the Unix socket).
function destLabel(job: Job): string {
  return `${job.s.service ?? 'smtp'}:${job.req.nexthop.toLowerCase()}`;
}

function endpLabel(job: Job, target: Target): string {
  const where =
    target.kind === 'inet' ? `${target.addr}:${target.port}` : target.path;
  return `${job.s.service ?? 'smtp'}:${where}`;
}

// This process's idle session for the nexthop, else one from scache.
async function cachedForDest(job: Job): Promise<Session | undefined> {
  if (!cacheable(job)) return undefined;
  const local = await job.s.cache!.take(job.req.nexthop);
  if (local) return local;
  const found = await job.s.shared?.findDest(destLabel(job));
  return found && adopt(job, found);
}

async function cachedForEndp(job: Job, target: Target) {
  if (!cacheable(job) || !job.s.shared) return undefined;
  const found = await job.s.shared.findEndp(endpLabel(job, target));
  return found && adopt(job, found);
}

async function adopt(job: Job, found: CachedSocket) {
  const session = await adoptSession(found.socket, found.prop, job.s);
  if (session) session.endp = found.endp;
  return session;
}

// A session whose transaction went through is kept for the next request
// to the same nexthop; any other ends with QUIT.
async function sendAndKeep(job: Job, session: Session): Promise<void> {
  job.connUse = ++session.uses;
  const reusable = await sendMessage(job, session);
  if (!reusable || !cacheable(job) || spent(job, session)) session.close();
  else if (job.s.cache!.hasRoom(job.req.nexthop))
    job.s.cache!.put(job.req.nexthop, session, job.s.cacheLimits);
  else if (!share(job, session)) session.close();
}

function spent(job: Job, session: Session): boolean {
  const { reuseMs, reuseCount } = job.s.cacheLimits;
  if (reuseCount && session.uses >= reuseCount) return true;
  return Date.now() - session.openedAt >= reuseMs;
}

// To scache, for whichever smtp process needs it first.
// XXX Postfix maps the destination to the session only when the session
// went to the destination's own hosts; here also for a fallback relay.
function share(job: Job, session: Session): boolean {
  const shared = job.s.shared;
  if (!shared?.available || !session.endp) return false;
  const socket = session.detach();
  if (!socket) return false;
  const ttl = job.s.cacheLimits.idleMs / 1000;
  const prop = JSON.stringify(session.props);
  const saved = shared.save(destLabel(job), session.endp, socket, prop, ttl);
  if (!saved) socket.destroy();
  return true;
}

// The nexthop's hosts, then the fallback relays' hosts. A lookup failure
// of the nexthop is final unless a fallback relay can be found.
async function allTargets(job: Job): Promise<Target[]> {
  const { s } = job;
  const hops = [job.req.nexthop, ...s.fallbackRelays];
  const found: Target[] = [];
  let first: unknown;
  for (const hop of hops) {
    try {
      const parsed = parseNexthop(hop, s.defaultPort, s.lmtp);
      found.push(...(await lookupTargets(parsed, s)));
    } catch (err) {
      first ??= err;
    }
  }
  if (!found.length) throw first;
  return found;
}

async function firstSession(
  targets: Target[],
  job: Job,
): Promise<Session | Outcome> {
  let last: Outcome = { dsn: '4.4.1', reason: 'no hosts to try' };
  for (const target of targets) {
    const cached = await cachedForEndp(job, target);
    const opened = cached ?? (await openSession(target, job.s));
    if (opened instanceof Session) {
      opened.endp = endpLabel(job, target);
      return opened;
    }
    last = opened;
  }
  return last;
}

// Postfix's DSN_RET_FULL 1 and DSN_RET_HDRS 2. Always an object, so
// that each RCPT TO can carry its own NOTIFY and ORCPT (smtp_rcpt_dsn.ts).
function dsnOptions(req: DeliveryRequest) {
  const ret = req.retFlags & 1 ? 'FULL' : req.retFlags & 2 ? 'HDRS' : undefined;
  return { ret, envid: req.envelopeId || undefined };
}

// The first recipient of an address gives its parameters: the envelope
// names each address once.
function rcptDsnTable(req: DeliveryRequest): RcptDsnTable {
  const table = new Map<string, RcptDsn>();
  for (const r of req.recipients)
    if (!table.has(r.recipient))
      table.set(r.recipient, {
        notify: notifyKeyword(r.notifyFlags),
        orcpt: orcptOf(r.dsnOrigRcpt, r.originalRecipient),
      });
  return table;
}

function body(job: Job, session: Session): Readable {
  const content = new ContentStream(
    job.fd,
    job.req.offset,
    () => (session.phase = PHASE.BODY),
    () => (session.phase = PHASE.END),
  );
  const eightBit = job.req.encoding === '8bit';
  if (!eightBit || !job.s.mimeConversion) return content;
  if (session.extensions.includes('8BITMIME')) return content;
  return downgradeTo7bit(content);
}

// True when the connection is fit for another transaction.
async function sendMessage(job: Job, session: Session): Promise<boolean> {
  const req = job.req;
  job.setup = (Date.now() - job.started) / 1000;
  const envelope = {
    from: req.sender || (false as const),
    to: [...new Set(req.recipients.map((r) => r.recipient))],
    size: req.size || undefined,
    use8BitMime: req.encoding === '8bit',
    dsn: dsnOptions(req) as never,
  };
  const refusal =
    loopsBack(job, session) ?? beforeSend(job, session, envelope.to);
  if (refusal) {
    for (const r of req.recipients)
      await finish(job, r, session.relay, refusal);
    return false;
  }
  const { err, info } = await session.send(
    envelope,
    body(job, session),
    rcptDsnTable(req),
  );
  const refused = err
    ? [...session.envelopeErrors, ...(err.rejectedErrors ?? [])]
    : (info!.rejectedErrors ?? []);
  const own = rejectedOutcomes(session, refused as PeerError[]);
  if (!err && job.s.lmtp) lmtpOutcomes(session, envelope.to, refused, own);
  const rest = err ? outcomeOfError(session, err) : okOutcome(info!.response);
  for (const r of req.recipients)
    await finish(job, r, session.relay, own.get(r.recipient) ?? rest);
  return !err;
}

// A peer that greets or answers EHLO with our own name is ourselves
// (Postfix's smtp loop detection; lmtp does not do it).
function loopsBack(job: Job, session: Session): Outcome | undefined {
  if (job.s.lmtp) return undefined;
  const me = job.s.myhostname.toLowerCase();
  const names = session.greetings.map((r) =>
    (/^\d{3}[ -](\S+)/.exec(r)?.[1] ?? '').toLowerCase(),
  );
  if (!names.includes(me)) return undefined;
  const reason = `mail for ${job.req.nexthop} loops back to myself`;
  return { dsn: '5.4.6', reason };
}

// Postfix's smtputf8.h: the message has UTF-8 headers.
const SMTPUTF8_FLAG_HEADER = 2;
const NON_ASCII = /[^\x00-\x7f]/;

// What Postfix refuses before MAIL FROM: a message over the peer's SIZE
// (RFC 1870) and UTF-8 mail to a peer without SMTPUTF8 (RFC 6531).
function beforeSend(
  job: Job,
  session: Session,
  to: string[],
): Outcome | undefined {
  const limit = session.sizeLimit;
  if (limit && job.req.size > limit)
    return {
      dsn: '5.3.4',
      reason: `message size ${job.req.size} exceeds size limit ${limit} of server ${session.peer}`,
    };
  const utf8 =
    (job.req.sendopts & SMTPUTF8_FLAG_HEADER) !== 0 ||
    [job.req.sender, ...to].some((a) => NON_ASCII.test(a));
  if (utf8 && !session.extensions.includes('SMTPUTF8'))
    return {
      dsn: '5.6.7',
      reason: `SMTPUTF8 is required, but was not offered by host ${session.peer}`,
    };
  return undefined;
}

// An LMTP server answers the content once per recipient it took at RCPT;
// those that were not refused after DATA get their own 2xx reply.
function lmtpOutcomes(
  session: Session,
  to: string[],
  refused: PeerError[],
  own: Map<string, Outcome>,
): void {
  const atRcpt = new Set(
    refused.filter((e) => e.command !== 'DATA').map((e) => e.recipient),
  );
  const taken = to.filter((addr) => !atRcpt.has(addr));
  const replies = session.lastReplies(taken.length);
  taken.forEach((addr, i) => {
    if (!own.has(addr) && replies[i]?.startsWith('2'))
      own.set(addr, okOutcome(replies[i]));
  });
}

function okOutcome(response: string): Outcome {
  const reason = response.replace(/\r?\n/g, ' ');
  const m = /^2\d\d[ -](2\.\d{1,3}\.\d{1,3})\b/.exec(reason);
  return { dsn: m ? m[1] : '2.0.0', reason };
}

function rejectedOutcomes(session: Session, refused: PeerError[]) {
  const map = new Map<string, Outcome>();
  for (const e of refused)
    if (e.recipient && e.response)
      map.set(e.recipient, saidReason(session.peer, e.response, stepOf(e)));
  return map;
}

// LMTP refusals after the content are "in reply to end of DATA".
function stepOf(e: PeerError): string {
  return e.command === 'DATA' ? 'END' : 'RCPT TO';
}

function outcomeOfError(session: Session, err: PeerError): Outcome {
  // Our own side failed (the queue file, the MIME conversion): try again.
  if (err.code === 'ESTREAM')
    return { dsn: '4.3.0', reason: `queue file read error: ${err.message}` };
  if (!err.response) return sessionFailure(err, session.peer, session.phase);
  const command =
    err.command === 'DATA' && /^Message failed/.test(err.message)
      ? 'END'
      : (err.command ?? 'DATA');
  return saidReason(session.peer, err.response, command);
}

// Postfix logs ", conn_use=N" after relay= on a reused connection.
// XXX an adapter: delivery.ts's DeliveryLogEntry has no conn_use field.
function withConnUse(line: string, relay: string, uses: number): string {
  if (uses < 2) return line;
  const at = `, relay=${relay}, `;
  return line.replace(at, `, relay=${relay}, conn_use=${uses}, `);
}

const STATUS_OF: Record<string, DeliveryStatus> = {
  delivered: 'sent',
  relayed: 'sent',
  failed: 'bounced',
  delayed: 'deferred',
};

async function finish(
  job: Job,
  rcpt: DeliveryRecipient,
  relay: string,
  o: Outcome,
): Promise<void> {
  const action = dsnAction(o.dsn, job.s.lmtp);
  if (action === 'delivered' || action === 'relayed')
    markRecipientDoneSync(job.fd, rcpt.offset);
  const line = deliveryLogLine({
    request: job.req,
    recipient: rcpt,
    relay,
    dsn: o.dsn,
    status: STATUS_OF[action],
    reason: o.reason,
    connectSetup: job.setup ?? (Date.now() - job.started) / 1000,
  });
  msg.info(withConnUse(line, relay, job.connUse));
  job.results.push({
    offset: rcpt.offset,
    status: o.dsn,
    action,
    reason: o.reason,
  });
}
