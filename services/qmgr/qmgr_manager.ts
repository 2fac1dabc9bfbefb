// The queue manager's core: triggers (I W D A F) start scans of incoming/
// and deferred/, files move to active/, recipients are resolved, grouped
// and scheduled per transport and destination, and each message leaves
// active/ removed, deferred or expired. qmgr.ts runs it under the daemon
// skeleton; tests start it on a temporary queue directory.

import * as path from 'node:path';
import { msg } from '../../packages/log/log';
import { QUEUE } from '../../packages/queue/mail_queue';
import {
  markRecipientDone,
  observeRecipientsDone,
  QueueFileError,
  readEnvelope,
  readEnvelopeIfFree,
  updateWarnTime,
  type QueueEnvelope,
} from '../../packages/queue/queue_file';
import { readStatusLog, STATUS_LOG } from '../../packages/queue/status_log';
import { resolveAddress } from '../../packages/address/resolve';
import {
  activate,
  backoffDelay,
  deferToQueue,
  putBack,
  recoverActive,
  removeMessage,
  saveCorrupt,
} from './qmgr_active';
import { dropStatusLog, readStatusLogNow } from './qmgr_status_log';
import {
  type BounceNotifier,
  type DelayNotifier,
  notifyBounce,
  notifyDelay,
  notifyTrace,
} from './qmgr_bounce';
import {
  loadSettings,
  type QmgrConfig,
  type QmgrSettings,
} from './qmgr_config';
import { deferJob, deliverJob, type JobResult } from './qmgr_deliver';
import {
  bounceRecipient,
  deferRecipient,
  type QmgrContext,
} from './qmgr_defer';
import { contentDamage } from './qmgr_content_check';
import { expireMessage, isExpired, isForced } from './qmgr_expire';
import { applyDeferTransports } from './qmgr_defer_transports';
import {
  buildJobs,
  isDoubleBounce,
  QmgrMessage,
  type QmgrRecipient,
  resolveRecipients,
  type QmgrJob,
  type Resolve,
} from './qmgr_message';
import type { QmgrQueue } from './qmgr_queue';
import { scanQueue } from './qmgr_scan';
import { QmgrTransport } from './qmgr_transport';

export interface QueueManagerOptions {
  queueDir: string;
  config: QmgrConfig;
  resolve?: Resolve; // default: packages/address/resolve.ts
  notifyBounce?: BounceNotifier; // default: services/bounce
  notifyDelay?: DelayNotifier; // default: services/bounce
}

type ScanQueue = typeof QUEUE.INCOMING | typeof QUEUE.DEFERRED;

const now = () => Date.now() / 1000;

// Files taken into active/ at once during a scan: each move waits for
// directory fsyncs, which overlap. Measured here (2 vCPU, one-recipient
// messages, a test agent): 120 msg/s one at a time, 170-240 with 4 to 16
// (noisy shared machine), so a middle value.
const TAKE_PARALLEL = 8;

export class QueueManager {
  readonly #ctx: QmgrContext;
  readonly #settings: QmgrSettings;
  readonly #resolve: Resolve;
  readonly #myhostname: string;
  readonly #notify: BounceNotifier;
  readonly #notifyDelay: DelayNotifier;
  readonly #messages = new Map<string, QmgrMessage>();
  readonly #byPath = new Map<string, QmgrMessage>();
  #unobserve: () => void;
  readonly #transports = new Map<string, QmgrTransport>();
  readonly #scanning = new Set<ScanQueue>();
  readonly #rescan = new Set<ScanQueue>();
  readonly #ignoreTime = new Set<ScanQueue>();
  #tasks = 0;
  #idleWaiters: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: QueueManagerOptions) {
    const { queueDir, config } = options;
    this.#ctx = { queueDir, config };
    this.#settings = loadSettings(config);
    this.#resolve = options.resolve ?? ((addr) => resolveAddress(addr, config));
    this.#myhostname = config.get('myhostname');
    this.#notify = options.notifyBounce ?? notifyBounce;
    this.#notifyDelay = options.notifyDelay ?? notifyDelay;
    this.#unobserve = observeRecipientsDone((file, offset) =>
      this.#byPath.get(file)?.pending.delete(offset),
    );
  }

  // Crash recovery first (Postfix's qmgr start): whatever was active when
  // we died goes back to incoming/, then both queues are scanned.
  async start(): Promise<void> {
    const moved = await recoverActive(this.#ctx.queueDir, this.#ctx.config);
    if (moved) msg.verbose(`start: ${moved} file(s) back to incoming`);
    const every = this.#settings.queueRunDelay * 1000;
    this.#timer = setInterval(() => this.trigger('D'), every);
    this.#timer.unref();
    this.trigger('DI');
  }

  // Trigger bytes as Postfix's qmgr takes them: A and F act before D and
  // I whatever their order, and duplicates collapse.
  trigger(bytes: string | Buffer): void {
    const text = bytes.toString('latin1');
    if (this.#stopped) return;
    if (text.includes('A')) {
      this.#ignoreTime.add(QUEUE.INCOMING);
      this.#ignoreTime.add(QUEUE.DEFERRED);
    }
    if (text.includes('F')) this.#forgetDead();
    if (text.includes('D')) this.#track(this.#scan(QUEUE.DEFERRED));
    if (/[IW]/.test(text)) this.#track(this.#scan(QUEUE.INCOMING));
  }

  // Resolves when no scan, delivery or bookkeeping is running.
  whenIdle(): Promise<void> {
    if (this.#tasks === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  // No new scans or deliveries; running ones finish. Messages left in
  // active/ go back to incoming/ at the next start.
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.whenIdle();
    this.#unobserve();
  }

  get activeCount(): number {
    return this.#messages.size;
  }

  #track(work: Promise<void>): void {
    this.#tasks++;
    work
      .catch((err) => msg.warn(`qmgr: ${(err as Error).message ?? err}`))
      .finally(() => {
        this.#tasks--;
        if (this.#tasks > 0) return;
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const wake of waiters) wake();
      });
  }

  #forgetDead(): void {
    for (const t of this.#transports.values()) {
      t.revive();
      for (const q of t.queues.values()) q.revive();
    }
  }

  // One scan per queue at a time; a trigger during a scan asks for one
  // more pass when it ends.
  async #scan(queue: ScanQueue): Promise<void> {
    if (this.#scanning.has(queue)) {
      this.#rescan.add(queue);
      return;
    }
    this.#scanning.add(queue);
    try {
      do {
        this.#rescan.delete(queue);
        await this.#scanOnce(queue);
      } while (this.#rescan.has(queue) && !this.#stopped);
    } finally {
      this.#scanning.delete(queue);
    }
  }

  // XXX Postfix alternates one incoming and one deferred file while the
  // active queue has room; here the two scans run side by side and each
  // takes files until the queue is full, so a large deferred queue can
  // take most of qmgr_message_active_limit from new mail.
  async #scanOnce(queue: ScanQueue): Promise<void> {
    const ignoreTime = this.#ignoreTime.delete(queue);
    const limit = this.#settings.activeLimit - this.#messages.size;
    if (limit <= 0) return;
    const dir = path.join(this.#ctx.queueDir, queue);
    const ids = await scanQueue(dir, { ignoreTime, now: now(), limit });
    const next = () => ids.shift();
    const worker = async () => {
      for (let id = next(); id && !this.#stopped; id = next())
        if (!this.#messages.has(id)) await this.#tryTake(id, queue);
    };
    await Promise.all(Array.from({ length: TAKE_PARALLEL }, worker));
  }

  // One file that cannot be taken (a file system error) must not stop
  // the scan; it stays where it is for the next one, or in active/ for
  // the next start.
  async #tryTake(id: string, from: ScanQueue): Promise<void> {
    try {
      await this.#take(id, from);
    } catch (err) {
      msg.warn(`${id}: take from ${from}: ${(err as Error).message}`);
    }
  }

  // Into active/ first, then read: a file is never read in a queue
  // that another scan may also take it from.
  async #take(id: string, from: ScanQueue): Promise<void> {
    const { queueDir, config } = this.#ctx;
    const file = await activate(queueDir, id, from, config);
    if (!file) return;
    let env;
    try {
      env = await readEnvelopeIfFree(file);
    } catch (err) {
      if (!(err instanceof QueueFileError)) throw err;
      dropStatusLog(queueDir, STATUS_LOG.DEFER, id, config);
      return saveCorrupt(queueDir, id, err.message, config);
    }
    if (!env) return putBack(queueDir, id, from, config);
    const damage = await contentDamage(env, from);
    if (damage) {
      dropStatusLog(queueDir, STATUS_LOG.DEFER, id, config);
      return saveCorrupt(queueDir, id, damage, config);
    }
    // Postfix resets the defer log on each new pass: it holds this
    // pass's reasons only, for mailq and for an expiry bounce.
    dropStatusLog(queueDir, STATUS_LOG.DEFER, id, config);
    const message = new QmgrMessage(env, now());
    msg.info(
      `${id}: from=<${env.sender}>, size=${message.logSize}, ` +
        `nrcpt=${message.logCount} (queue active)`,
    );
    this.#messages.set(id, message);
    this.#byPath.set(env.path, message);
    await this.#route(message);
  }

  // XXX all of a message's recipients are read and resolved at once;
  // Postfix reads them in batches (qmgr_message_recipient_limit) so that
  // a message with a million recipients does not fill memory.
  async #route(message: QmgrMessage): Promise<void> {
    message.outstanding++; // held while routing
    try {
      // postsuper -e/-f: returned to the sender without another try.
      if (isForced(message.env) && message.env.recipients.length)
        return await expireMessage(this.#ctx, message, message.env);
      const { routed, unroutable } = await resolveRecipients(
        message,
        this.#resolve,
        this.#myhostname,
      );
      for (const u of unroutable) {
        if (u.hard)
          await bounceRecipient(this.#ctx, message, u.rcpt, u.dsn, u.reason);
        else await deferRecipient(this.#ctx, message, u.rcpt, u.dsn, u.reason);
      }
      const deliverable = await applyDeferTransports(
        this.#ctx,
        message,
        await this.#discardDoubleBounces(message, routed),
      );
      const jobs = buildJobs(message, deliverable, this.#settings.limits);
      for (const job of jobs) this.#enqueue(job);
    } finally {
      this.#release(message);
    }
    this.#schedule();
  }

  async #discardDoubleBounces(
    message: QmgrMessage,
    routed: QmgrRecipient[],
  ): Promise<QmgrRecipient[]> {
    const user = this.#ctx.config.get('double_bounce_sender');
    const keep: QmgrRecipient[] = [];
    for (const rcpt of routed) {
      if (!isDoubleBounce(rcpt, user)) {
        keep.push(rcpt);
        continue;
      }
      await markRecipientDone(message.env.path, rcpt.offset);
      msg.warn(
        `${message.id}: undeliverable postmaster notification discarded`,
      );
    }
    return keep;
  }

  #transport(name: string): QmgrTransport {
    let t = this.#transports.get(name);
    if (!t) {
      const wake = () => this.#schedule(); // a rate delay has passed
      t = new QmgrTransport(name, this.#settings.limits(name), wake);
      this.#transports.set(name, t);
    }
    return t;
  }

  #enqueue(job: QmgrJob): void {
    job.message.outstanding++;
    this.#transport(job.transport).queue(job.queueKey).jobs.push(job);
  }

  // Finish a job without an agent: its recipients are deferred.
  #deferQueued(job: QmgrJob, reason: string): void {
    this.#track(
      deferJob(this.#ctx, job, reason).finally(() =>
        this.#release(job.message),
      ),
    );
  }

  #flushQueue(q: QmgrQueue, reason: string): void {
    for (const job of q.jobs.splice(0)) this.#deferQueued(job, reason);
  }

  // Hand jobs to agents while transports and destinations have room.
  // Dead transports and destinations defer what waits for them.
  #schedule(): void {
    if (this.#stopped) return;
    const t0 = now();
    for (const t of this.#transports.values()) {
      if (t.isDead(t0)) {
        for (const q of t.queues.values()) this.#flushQueue(q, t.deadReason);
        continue;
      }
      for (const q of t.queues.values())
        if (q.isDead(t0))
          this.#flushQueue(
            q,
            `delivery temporarily suspended: ${q.deadReason}`,
          );
      while (t.hasRoom()) {
        const q = t.nextQueue();
        if (!q) break;
        this.#dispatch(t, q, q.jobs.shift() as QmgrJob);
      }
      t.prune();
    }
  }

  #dispatch(t: QmgrTransport, q: QmgrQueue, job: QmgrJob): void {
    t.busy++;
    q.busy++;
    const run = async () => {
      let result: JobResult = { kind: 'crashed' };
      try {
        result = await deliverJob(this.#ctx, job);
      } finally {
        t.busy--;
        q.busy--;
        this.#feedback(t, q, result);
        this.#release(job.message);
        this.#schedule();
      }
    };
    this.#track(run());
  }

  #feedback(t: QmgrTransport, q: QmgrQueue, result: JobResult): void {
    const t0 = now();
    if (result.kind === 'ok') q.success();
    if (result.kind === 'site')
      q.failure(result.reason, t0 + this.#settings.minBackoff);
    if (result.kind === 'unavailable') {
      t.deadUntil = t0 + this.#settings.transportRetryTime;
      t.deadReason = 'mail transport unavailable';
    }
  }

  #release(message: QmgrMessage): void {
    if (--message.outstanding > 0) return;
    this.#track(this.#finish(message));
  }

  // All jobs of this pass are done: expire, bounce, then remove or defer.
  // A failure here leaves the file in active/ for the next start.
  async #finish(message: QmgrMessage): Promise<void> {
    try {
      await this.#finishMessage(message);
    } catch (err) {
      msg.warn(`${message.id}: finish: ${(err as Error).message}`);
    } finally {
      this.#messages.delete(message.id);
      this.#byPath.delete(message.env.path);
    }
  }

  // When every recipient of this pass is known done, nothing on disk can
  // say otherwise and the file is not read again; a deferred message is,
  // as an agent may have marked a recipient that it could not report.
  async #finishMessage(message: QmgrMessage): Promise<void> {
    if (!message.pending.size) return this.#finishDone(message);
    const { queueDir, config } = this.#ctx;
    let env = await readEnvelope(message.env.path);
    const t0 = now();
    if (env.recipients.length && isExpired(message, env, this.#settings, t0)) {
      await expireMessage(this.#ctx, message, env);
      env = await readEnvelope(message.env.path);
    }
    const bounced =
      (await this.#sendBounces(message)) &&
      (await notifyTrace(this.#ctx, message)); // -v, -bv, NOTIFY=SUCCESS
    if (!env.recipients.length && bounced)
      return removeMessage(queueDir, message.id, config);
    await this.#warnDelay(message, env, t0);
    await this.#defer(message, t0);
  }

  async #finishDone(message: QmgrMessage): Promise<void> {
    const { queueDir, config } = this.#ctx;
    const bounced =
      (await this.#sendBounces(message)) &&
      (await notifyTrace(this.#ctx, message));
    if (bounced) return removeMessage(queueDir, message.id, config);
    await this.#defer(message, now());
  }

  async #defer(message: QmgrMessage, t0: number): Promise<void> {
    const age = t0 - message.env.arrivalTime;
    const s = this.#settings;
    const retryAt = t0 + backoffDelay(age, s.minBackoff, s.maxBackoff);
    await deferToQueue(
      this.#ctx.queueDir,
      message.id,
      retryAt,
      this.#ctx.config,
    );
  }

  // delay_warning_time: cleanup writes the first warning time in the W
  // record; once it has passed, one "Delayed Mail" notice goes to the
  // sender with this pass's reasons and the record is set to 0.
  async #warnDelay(
    message: QmgrMessage,
    env: QueueEnvelope,
    t0: number,
  ): Promise<void> {
    if (env.warnOffset < 0 || !env.warnTime || t0 < env.warnTime) return;
    const { queueDir, config } = this.#ctx;
    const log = STATUS_LOG.DEFER;
    const records = await readStatusLog(queueDir, log, message.id, config);
    const pending = new Set(env.recipients.map((r) => r.offset));
    const still = records.filter((r) => pending.has(r.offset));
    if (!(await this.#notifyDelay(this.#ctx, message, still))) return;
    await updateWarnTime(env.path, env.warnOffset, 0);
  }

  // A notice for bounce/ID's records, then the log goes; false when the
  // notice could not be queued (the message is kept and tried again).
  async #sendBounces(message: QmgrMessage): Promise<boolean> {
    const { queueDir, config } = this.#ctx;
    const log = STATUS_LOG.BOUNCE;
    const records = readStatusLogNow(queueDir, log, message.id, config);
    if (!records.length) return true;
    if (!(await this.#notify(this.#ctx, message, records))) return false;
    dropStatusLog(queueDir, log, message.id, config);
    return true;
  }
}
