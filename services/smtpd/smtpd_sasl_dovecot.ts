// The client side of Dovecot's auth protocol (version 1) over
// smtpd_sasl_path: the handshake that lists the mechanisms, then AUTH
// and CONT requests answered by OK, CONT or FAIL. Used by smtpd_sasl.ts,
// one connection per AUTH. Limits: the socket's timeout is the only one.

import * as net from 'node:net';

export interface Mechanism {
  name: string; // PLAIN, LOGIN, ...
  flags: string[]; // anonymous plaintext dictionary active ...
}

// One step's answer: done (with the user), go on (with a challenge),
// or refused (with Dovecot's reason, '' when it gave none).
export type AuthStep =
  | { kind: 'ok'; user: string }
  | { kind: 'cont'; challenge: string }
  | { kind: 'fail'; reason: string };

export class DovecotError extends Error {}

const MAX_LINE = 16 * 1024;

// Tab-separated lines; values may escape tab, LF and backslash.
function unescape(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) =>
    c === 't' ? '\t' : c === 'n' ? '\n' : c,
  );
}

function fields(line: string): string[] {
  return line.split('\t').map(unescape);
}

export class DovecotAuth {
  #socket: net.Socket;
  #buffer = '';
  #lines: string[] = [];
  #waiter: (() => void) | null = null;
  #closed = false;
  #nextId = 1;
  mechanisms: Mechanism[] = [];

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => this.#onData(d));
    socket.on('close', () => this.#onClose());
    socket.on('error', () => this.#onClose());
  }

  // Connect and read the server's handshake up to DONE.
  static async open(path: string, timeoutMs: number): Promise<DovecotAuth> {
    const socket = net.connect({ path });
    socket.setTimeout(timeoutMs, () => socket.destroy());
    const auth = new DovecotAuth(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(`VERSION\t1\t1\nCPID\t${process.pid}\n`);
    await auth.#handshake();
    return auth;
  }

  async #handshake(): Promise<void> {
    for (;;) {
      const f = fields(await this.#line());
      if (f[0] === 'VERSION' && f[1] !== '1')
        throw new DovecotError(`unsupported protocol version ${f[1]}`);
      if (f[0] === 'MECH')
        this.mechanisms.push({ name: f[1], flags: f.slice(2) });
      if (f[0] === 'DONE') return;
    }
  }

  // The first step of one authentication; resp is base64, or undefined
  // when the client gave no initial response.
  async start(
    mech: string,
    params: Record<string, string | true>,
    resp?: string,
  ): Promise<AuthStep> {
    const id = this.#nextId++;
    const list = Object.entries(params).map(([k, v]) =>
      v === true ? k : `${k}=${escape(v)}`,
    );
    if (resp !== undefined) list.push(`resp=${resp}`);
    this.#socket.write(`AUTH\t${id}\t${mech}\t${list.join('\t')}\n`);
    return this.#answer(id);
  }

  async next(response: string): Promise<AuthStep> {
    const id = this.#nextId - 1;
    this.#socket.write(`CONT\t${id}\t${response}\n`);
    return this.#answer(id);
  }

  async #answer(id: number): Promise<AuthStep> {
    for (;;) {
      const f = fields(await this.#line());
      if (f[1] !== String(id)) continue;
      const args = f.slice(2);
      if (f[0] === 'OK') return { kind: 'ok', user: param(args, 'user') };
      if (f[0] === 'CONT') return { kind: 'cont', challenge: args[0] ?? '' };
      if (f[0] === 'FAIL')
        return { kind: 'fail', reason: param(args, 'reason') };
    }
  }

  #onData(d: string): void {
    this.#buffer += d;
    const parts = this.#buffer.split('\n');
    this.#buffer = parts.pop()!;
    this.#lines.push(...parts);
    if (this.#buffer.length > MAX_LINE) this.#socket.destroy();
    this.#wake();
  }

  #onClose(): void {
    this.#closed = true;
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.();
  }

  async #line(): Promise<string> {
    for (;;) {
      const line = this.#lines.shift();
      if (line !== undefined) return line;
      if (this.#closed) throw new DovecotError('connection closed');
      await new Promise<void>((r) => (this.#waiter = r));
    }
  }

  close(): void {
    this.#socket.destroy();
  }
}

function escape(value: string): string {
  return value.replace(/[\\\t\n]/g, (c) =>
    c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\\\',
  );
}

function param(args: string[], name: string): string {
  const hit = args.find((a) => a.startsWith(`${name}=`));
  return hit ? hit.slice(name.length + 1) : '';
}
