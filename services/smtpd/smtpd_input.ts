// What smtpd reads from its client: a pull reader over the socket, so the
// session asks for one command line or one content chunk at a time and
// the socket is paused while nothing is asked (backpressure). Used by
// smtpd_proto.ts. Over-long command lines are cut at the limit and the
// rest skipped, as Postfix's smtp_get does with SMTP_GET_FLAG_SKIP.

import type { Socket } from 'node:net';

export class InputClosed extends Error {}
export class InputTimeout extends Error {}

const HIGH_WATER = 256 * 1024;
const LF = 0x0a;

export class SmtpdInput {
  #socket: Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #waiter: ((err?: Error) => void) | null = null;
  #ended = false;
  #timeoutMs: number;
  #perRecord: boolean; // smtpd_per_record_deadline
  #deadline = 0; // ms since the epoch; 0: none
  #listeners = {
    data: (chunk: Buffer) => this.#onData(chunk),
    end: () => this.#onEnd(),
    timeout: () => this.#wake(new InputTimeout()),
  };

  #beforeWait: () => void;

  // beforeWait runs each time we are about to wait for the client: the
  // session sends the replies it held then.
  constructor(
    socket: Socket,
    timeoutMs: number,
    perRecord = false,
    beforeWait: () => void = () => undefined,
  ) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    this.#perRecord = perRecord;
    this.#beforeWait = beforeWait;
    socket.on('data', this.#listeners.data);
    socket.on('end', this.#listeners.end);
    socket.on('close', this.#listeners.end);
    socket.on('error', this.#listeners.end);
    socket.on('timeout', this.#listeners.timeout);
    // A client that left while its name was looked up: its close event
    // has already gone by.
    if (socket.destroyed) this.#ended = true;
  }

  // Bytes the client sent that no command has read yet: the evidence of
  // pipelining.
  get pending(): number {
    return this.#buffer.length;
  }

  get ended(): boolean {
    return this.#ended;
  }

  // The first unread line, for the pipelining log line.
  peekText(max = 100): string {
    const text = this.#buffer.subarray(0, max).toString('latin1');
    return text.split(/\r?\n/, 1)[0];
  }

  #onData(chunk: Buffer): void {
    this.#buffer =
      this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    if (this.#buffer.length > HIGH_WATER) this.#socket.pause();
    this.#wake();
  }

  // end, close and error all come here; an error object costs a stack
  // trace, so one is made only for a reader that waits.
  #onEnd(): void {
    this.#ended = true;
    if (this.#waiter) this.#wake(new InputClosed());
  }

  // A timeout only matters while we wait for the client; while we wait
  // for cleanup the client owes us nothing, and no waiter is set.
  #wake(err?: Error): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.(err);
  }

  // smtpd_timeout counts from when we start to wait for the client, not
  // from the last byte: time spent waiting for cleanup is not the
  // client's, and a timeout that fired then must not be lost.
  #wait(): Promise<void> {
    this.#beforeWait();
    if (this.#ended) return Promise.reject(new InputClosed());
    const left = this.#deadline ? this.#deadline - Date.now() : Infinity;
    if (left <= 0) return Promise.reject(new InputTimeout());
    this.#socket.setTimeout(this.#timeoutMs);
    this.#socket.resume();
    const timer = Number.isFinite(left)
      ? setTimeout(() => this.#wake(new InputTimeout()), left)
      : null;
    return new Promise((resolve, reject) => {
      this.#waiter = (err) => {
        if (timer) clearTimeout(timer);
        return err ? reject(err) : resolve();
      };
    });
  }

  // With smtpd_per_record_deadline, smtpd_timeout bounds a whole command
  // line, so that a client sending a byte at a time cannot hold a
  // session open for ever; otherwise it bounds each wait for a byte.
  // XXX there is no stress mode to turn it on by itself, as Postfix does
  // under overload, and DATA content is not bounded this way.
  async readLine(maxLength: number): Promise<Buffer> {
    this.#deadline = this.#perRecord ? Date.now() + this.#timeoutMs : 0;
    try {
      return await this.#readLine(maxLength);
    } finally {
      this.#deadline = 0;
    }
  }

  #consume(n: number): Buffer {
    const taken = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return taken;
  }

  // One command line without its line end (<CR><LF> or <LF>).
  async #readLine(maxLength: number): Promise<Buffer> {
    let kept: Buffer | null = null;
    for (;;) {
      const lf = this.#buffer.indexOf(LF);
      if (lf >= 0) {
        const raw = this.#consume(lf + 1);
        const line = kept ?? raw.subarray(0, lf);
        return trimCr(line.subarray(0, maxLength));
      }
      if (!kept && this.#buffer.length > maxLength)
        kept = Buffer.from(this.#consume(maxLength));
      if (kept) this.#consume(this.#buffer.length);
      await this.#wait();
    }
  }

  // Whatever the client sent so far, at most max bytes; waits for some.
  async readChunk(max = Infinity): Promise<Buffer> {
    while (this.#buffer.length === 0) await this.#wait();
    return Buffer.from(this.#consume(Math.min(max, this.#buffer.length)));
  }

  // Give back bytes a content decoder read past the end of the message.
  unshift(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.#buffer = Buffer.concat([bytes, this.#buffer]);
  }

  // Wait until the client has read our replies, so that one that sends
  // without reading cannot make us buffer replies without end.
  async writable(): Promise<void> {
    const socket = this.#socket;
    if (!socket.writableNeedDrain || socket.destroyed) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => done(new InputTimeout()), this.#timeoutMs);
      const done = (err?: Error) => {
        clearTimeout(timer);
        socket.off('drain', onDrain);
        socket.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(new InputClosed());
      socket.once('drain', onDrain);
      socket.once('close', onClose);
    });
  }

  // Drop what the client sent ahead; for a reply that ends the session.
  discard(): void {
    this.#buffer = Buffer.alloc(0);
  }

  // Stop reading this socket and forget what it sent: STARTTLS hands the
  // socket to the TLS layer, and plaintext the client sent after the
  // command must never be read as if it came inside TLS (CVE-2011-0411).
  detach(): void {
    const socket = this.#socket;
    socket.off('data', this.#listeners.data);
    socket.off('end', this.#listeners.end);
    socket.off('close', this.#listeners.end);
    socket.off('error', this.#listeners.end);
    socket.off('timeout', this.#listeners.timeout);
    socket.setTimeout(0);
    this.discard();
  }
}

function trimCr(line: Buffer): Buffer {
  const n = line.length;
  return n > 0 && line[n - 1] === 0x0d ? line.subarray(0, n - 1) : line;
}
