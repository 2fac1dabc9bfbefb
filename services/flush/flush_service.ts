// Postfix's fast flush (flush(8)): one log per destination in flush/
// listing the queue IDs of mail deferred for it, and the requests add,
// send_site, send_file, refresh and purge. A sent file moves from
// deferred/ to incoming/ with the unthrottle bit (g+r) and qmgr is
// woken. Used by flush.ts (the daemon), postqueue -s/-i and ETRN.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DaemonContext } from '../../packages/daemon/daemon';
import { DomainList } from '../../packages/address/domain_list';
import { sendTrigger } from '../../packages/ipc/ipc';
import { msg } from '../../packages/log/log';
import {
  moveQueueFile,
  queuePath,
  QUEUE,
} from '../../packages/queue/mail_queue';
import { readEnvelope } from '../../packages/queue/queue_file';

export type FlushConfig = DaemonContext['config'];

// Postfix's flush_clnt.h status codes.
export { FLUSH_STAT } from '../../packages/ipc/flush_client';
import { FLUSH_STAT } from '../../packages/ipc/flush_client';

// Postfix's MAIL_QUEUE_STAT_UNTHROTTLE: deliver now, whatever the
// destination's state or defer_transports.
const STAT_UNTHROTTLE = 0o040;

const QUEUE_ID = /^[A-Za-z0-9]+$/;
// A site becomes a file name: no slash, no leading dot.
const SITE = /^[a-z0-9_\-[\]:][a-z0-9._\-[\]:]*$/;

export class FlushService {
  readonly #queueDir: string;
  readonly #config: FlushConfig;
  readonly #domains: DomainList;
  // One change at a time per log in this process.
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(queueDir: string, config: FlushConfig) {
    this.#queueDir = queueDir;
    this.#config = config;
    const parents = config.list('parent_domain_matches_subdomains');
    this.#domains = new DomainList(
      'fast_flush_domains',
      config.get('fast_flush_domains'),
      parents.includes('fast_flush_domains'),
      { config },
    );
  }

  get #dir(): string {
    return path.join(this.#queueDir, QUEUE.FLUSH);
  }

  #logPath(site: string): string {
    return path.join(this.#dir, site);
  }

  // The site as a log name, or null when it is not one we keep.
  async #site(site: string | undefined): Promise<string | null> {
    const name = (site ?? '').toLowerCase();
    if (!SITE.test(name)) return null;
    return name;
  }

  async #allowed(site: string): Promise<boolean> {
    const domain = site.replace(/^\[|\](:\d+)?$/g, '');
    return this.#domains.match(domain).catch(() => false);
  }

  // Serialise work on one log, as Postfix does with a lock on the file.
  // XXX the lock is per process: two flush processes changing one log at
  // the same instant could lose an added ID (the message is still
  // delivered by its normal retry, only not by the next ETRN).
  async #locked<T>(site: string, work: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(site) ?? Promise.resolve();
    const next = before.catch(() => undefined).then(work);
    this.#locks.set(site, next);
    try {
      return await next;
    } finally {
      if (this.#locks.get(site) === next) this.#locks.delete(site);
    }
  }

  async add(siteIn?: string, queueId?: string): Promise<number> {
    const site = await this.#site(siteIn);
    if (!site || !queueId || !QUEUE_ID.test(queueId)) return FLUSH_STAT.BAD;
    if (!(await this.#allowed(site))) return FLUSH_STAT.DENY;
    await this.#locked(site, () =>
      fs.promises.appendFile(this.#logPath(site), `${queueId}\n`),
    );
    return FLUSH_STAT.OK;
  }

  async sendSite(siteIn?: string): Promise<number> {
    const site = await this.#site(siteIn);
    if (!site) return FLUSH_STAT.BAD;
    if (!(await this.#allowed(site))) return FLUSH_STAT.DENY;
    const ids = await this.#locked(site, () => this.#takeLog(site));
    for (const id of await this.#deferredFor(site)) ids.add(id);
    await this.#sendAll(ids);
    msg.verbose(`flush_send_site: site ${site}: ${ids.size} file(s)`);
    return FLUSH_STAT.OK;
  }

  async sendFile(queueId?: string): Promise<number> {
    if (!queueId || !QUEUE_ID.test(queueId)) return FLUSH_STAT.BAD;
    await this.#sendAll(new Set([queueId]));
    return FLUSH_STAT.OK;
  }

  // Logs not used for fast_flush_refresh_time are sent and emptied;
  // empty ones older than fast_flush_purge_time go.
  async refresh(): Promise<number> {
    const refresh = this.#config.time('fast_flush_refresh_time') * 1000;
    const purge = this.#config.time('fast_flush_purge_time') * 1000;
    const now = Date.now();
    for (const site of await this.#logs()) {
      const st = await fs.promises.stat(this.#logPath(site)).catch(() => null);
      if (!st) continue;
      if (st.size === 0 && now - st.mtimeMs > purge)
        await fs.promises.rm(this.#logPath(site), { force: true });
      else if (st.size > 0 && now - st.mtimeMs > refresh)
        await this.#sendLog(site);
    }
    return FLUSH_STAT.OK;
  }

  // Every log is sent and emptied at once.
  async purge(): Promise<number> {
    for (const site of await this.#logs()) await this.#sendLog(site);
    return FLUSH_STAT.OK;
  }

  async #sendLog(site: string): Promise<void> {
    await this.#sendAll(await this.#locked(site, () => this.#takeLog(site)));
  }

  async #logs(): Promise<string[]> {
    const names = await fs.promises.readdir(this.#dir).catch(() => []);
    return names.filter((n) => SITE.test(n));
  }

  // The IDs in a log, which is left empty: a message deferred again is
  // added again by whoever defers it.
  async #takeLog(site: string): Promise<Set<string>> {
    const file = this.#logPath(site);
    const text = await fs.promises.readFile(file, 'utf8').catch(() => '');
    if (text) await fs.promises.writeFile(file, '');
    return new Set(text.split('\n').filter((id) => QUEUE_ID.test(id)));
  }

  // XXX the agents and qmgr do not send "add" requests yet, as Postfix's
  // do for fast_flush_domains; so that ETRN and postqueue -s work
  // anyway, deferred/ is searched for mail to the site too. A large
  // deferred queue makes this slow.
  async #deferredFor(site: string): Promise<string[]> {
    const found: string[] = [];
    for (const file of await listQueue(path.join(this.#queueDir, 'deferred')))
      if (await hasRecipientAt(file, site)) found.push(path.basename(file));
    return found;
  }

  async #sendAll(ids: Set<string>): Promise<void> {
    let moved = 0;
    for (const id of ids) if (await this.#sendOne(id)) moved++;
    if (moved === 0) return;
    await sendTrigger(this.#queueDir, 'public', 'qmgr', 'I');
  }

  // From deferred/ to incoming/, now, with the unthrottle bit; a file
  // that is not in deferred/ any more (delivered, or being delivered)
  // is left alone.
  async #sendOne(id: string): Promise<boolean> {
    const file = queuePath(this.#queueDir, QUEUE.DEFERRED, id, this.#config);
    try {
      const st = await fs.promises.stat(file);
      await fs.promises.chmod(file, (st.mode & 0o7777) | STAT_UNTHROTTLE);
      const now = new Date();
      await fs.promises.utimes(file, now, now);
      await moveQueueFile(
        this.#queueDir,
        id,
        QUEUE.DEFERRED,
        QUEUE.INCOMING,
        this.#config,
      );
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }
}

// Queue files under a queue folder, flat or hashed.
async function listQueue(dir: string): Promise<string[]> {
  const out: string[] = [];
  const ents = await fs.promises
    .readdir(dir, { withFileTypes: true })
    .catch(() => []);
  for (const ent of ents) {
    const where = path.join(dir, ent.name);
    if (ent.isDirectory() && ent.name.length === 1)
      out.push(...(await listQueue(where)));
    else if (ent.isFile() && QUEUE_ID.test(ent.name)) out.push(where);
  }
  return out;
}

async function hasRecipientAt(file: string, site: string): Promise<boolean> {
  try {
    const env = await readEnvelope(file);
    const domain = site.replace(/^\[|\](:\d+)?$/g, '');
    return env.recipients.some((r) =>
      r.recipient.toLowerCase().endsWith(`@${domain}`),
    );
  } catch {
    return false; // gone, or not ours to judge
  }
}
