// smtpd's side of anvil: one stream to private/anvil per smtpd process,
// requests answered in order, and Postfix's limit checks and replies for
// connections, MAIL and RCPT. Used by smtpd_proto.ts. When anvil cannot
// be reached smtpd logs a warning and lets the client in, as Postfix.

import * as net from 'node:net';
import { AttrStream, Attrs, connectService } from '../../packages/ipc/ipc';
import { msg } from '../../packages/log/log';
import { Reply, reply } from './smtpd_chat';
import { buildNetworks, matchNetworks } from './smtpd_check';
import { SmtpdSettings } from './smtpd_settings';

const ANVIL_TIMEOUT_MS = 5_000;

export interface AnvilLimits {
  count: number;
  rate: number;
  message: number;
  recipient: number;
  exceptions: string[];
}

// Who the client is, for the anvil key and the log: name[addr].
export interface AnvilPeer {
  addr: string;
  namaddr: string;
}

export class AnvilClient {
  readonly #queueDir: string;
  readonly #service: string;
  readonly #limits: AnvilLimits;
  readonly #exempt: net.BlockList;
  #stream: Promise<AttrStream> | null = null;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(queueDir: string, service: string, limits: AnvilLimits) {
    this.#queueDir = queueDir;
    this.#service = service;
    this.#limits = limits;
    this.#exempt = buildNetworks(limits.exceptions);
  }

  // smtpd_client_event_limit_exceptions, and no limit set at all.
  exempt(addr: string): boolean {
    const l = this.#limits;
    if (!l.count && !l.rate && !l.message && !l.recipient) return true;
    return matchNetworks(this.#exempt, addr);
  }

  // At connect: a 421 reply when the client has too many connections or
  // makes them too fast; counted says that a disconnect is owed.
  async connect(
    peer: AnvilPeer,
    host: string,
  ): Promise<{ counted: boolean; refused: Reply | null }> {
    const got = await this.#request('connect', peer);
    if (!got) return { counted: false, refused: null };
    const l = this.#limits;
    const count = Number(got.count);
    const rate = Number(got.rate);
    let refused: Reply | null = null;
    if (l.count > 0 && count > l.count)
      refused = this.#tooMany(peer, host, 'Connection concurrency', count);
    else if (l.rate > 0 && rate > l.rate)
      refused = this.#tooMany(peer, host, 'Connection rate', rate);
    return { counted: true, refused };
  }

  async disconnect(peer: AnvilPeer): Promise<void> {
    await this.#request('disconnect', peer);
  }

  // At MAIL FROM (smtpd_client_message_rate_limit).
  async message(peer: AnvilPeer): Promise<Reply | null> {
    if (!this.#limits.message) return null;
    const rate = Number((await this.#request('message', peer))?.rate ?? 0);
    if (rate <= this.#limits.message) return null;
    this.#warn('Message delivery request rate', rate, peer);
    return reply(450, '4.7.1', `Error: too much mail from ${peer.addr}`);
  }

  // At RCPT TO (smtpd_client_recipient_rate_limit).
  async recipient(peer: AnvilPeer): Promise<Reply | null> {
    if (!this.#limits.recipient) return null;
    const rate = Number((await this.#request('recipient', peer))?.rate ?? 0);
    if (rate <= this.#limits.recipient) return null;
    this.#warn('Recipient address rate', rate, peer);
    return reply(450, '4.7.1', `Error: too many recipients from ${peer.addr}`);
  }

  #tooMany(peer: AnvilPeer, host: string, what: string, n: number): Reply {
    this.#warn(what, n, peer);
    const text = `${host} Error: too many connections from ${peer.addr}`;
    return reply(421, '4.7.0', text);
  }

  #warn(what: string, value: number, peer: AnvilPeer): void {
    msg.warn(
      `${what} limit exceeded: ${value} from ${peer.namaddr} ` +
        `for service ${this.#service}`,
    );
  }

  close(): void {
    void this.#stream?.then((s) => s.destroy()).catch(() => undefined);
    this.#stream = null;
  }

  // One request at a time on the stream, so replies match requests.
  #request(request: string, peer: AnvilPeer): Promise<Attrs | null> {
    const ident = `${this.#service}:${peer.addr}`;
    const next = this.#chain.then(() => this.#exchange(request, ident));
    this.#chain = next.catch(() => undefined);
    return next;
  }

  async #exchange(request: string, ident: string): Promise<Attrs | null> {
    try {
      const stream = await this.#open();
      stream.writeAttrs({ request, ident });
      const got = await withTimeout(stream.readAttrs(), ANVIL_TIMEOUT_MS);
      if (got.status !== '0') throw new Error(`status ${got.status}`);
      return got;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      msg.warn(`problem talking to server private/anvil: ${why}`);
      this.close();
      return null;
    }
  }

  #open(): Promise<AttrStream> {
    this.#stream ??= connectService(
      this.#queueDir,
      'private',
      'anvil',
      ANVIL_TIMEOUT_MS,
    ).then(async (s) => {
      await withTimeout(s.readAttrs(), ANVIL_TIMEOUT_MS);
      s.socket.unref();
      return s;
    });
    return this.#stream;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export function anvilLimits(settings: SmtpdSettings): AnvilLimits {
  const c = settings.config;
  return {
    count: c.int('smtpd_client_connection_count_limit'),
    rate: c.int('smtpd_client_connection_rate_limit'),
    message: c.int('smtpd_client_message_rate_limit'),
    recipient: c.int('smtpd_client_recipient_rate_limit'),
    exceptions: c.list('smtpd_client_event_limit_exceptions'),
  };
}
