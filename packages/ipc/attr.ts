// Attribute lists in Postfix's attr0 encoding (name NUL value NUL ...,
// ended by one more NUL), and a stream that reads attribute lists and
// queue-file records from one socket. Every internal protocol uses it.

import * as net from 'node:net';
import { RecordReader, type Rec } from '../queue/record';

export type Attrs = Record<string, string>;
export type AttrInput = Record<string, string | number | bigint | boolean>;

// Gathered writes go out at once past this many bytes.
const FLUSH_BYTES = 64 * 1024;

// A list longer than this is a broken or hostile peer.
const ATTR_MAX_LIST = 16 * 1024 * 1024;

export function encodeAttrs(attrs: AttrInput): Buffer {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(attrs)) {
    const text = typeof value === 'boolean' ? (value ? '1' : '0') : `${value}`;
    if (name.includes('\0') || text.includes('\0'))
      throw new TypeError(`encodeAttrs: NUL in attribute ${name}`);
    parts.push(name, '\0', text, '\0');
  }
  parts.push('\0');
  return Buffer.from(parts.join(''), 'utf8');
}

export class IpcError extends Error {}

// Parse one attribute list at the start of buf: the list and the bytes it
// used, or null when more bytes are needed.
export function decodeAttrs(
  buf: Buffer,
): { attrs: Attrs; used: number } | null {
  const attrs: Attrs = {};
  let p = 0;
  for (;;) {
    const nameEnd = buf.indexOf(0, p);
    if (nameEnd < 0) return null;
    if (nameEnd === p) return { attrs, used: p + 1 };
    const valueEnd = buf.indexOf(0, nameEnd + 1);
    if (valueEnd < 0) return null;
    attrs[buf.toString('utf8', p, nameEnd)] = buf.toString(
      'utf8',
      nameEnd + 1,
      valueEnd,
    );
    p = valueEnd + 1;
  }
}

type Waiter = () => void;

// encodeRecord's bytes (type, length in 7-bit groups, low group first,
// data) in one buffer: a message is a record per line, and encodeRecord
// makes three buffers for each.
export function recordBytes(type: string, data: Buffer | string): Buffer {
  const size =
    typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length;
  let head = 2;
  for (let len = size; len >= 0x80; len = Math.floor(len / 128)) head++;
  const out = Buffer.allocUnsafe(head + size);
  out[0] = type.charCodeAt(0);
  let at = 1;
  for (let len = size; ;) {
    const rest = Math.floor(len / 128);
    out[at++] = (len & 0x7f) | (rest > 0 ? 0x80 : 0);
    if (rest === 0) break;
    len = rest;
  }
  if (typeof data === 'string') out.write(data, at, 'utf8');
  else data.copy(out, at);
  return out;
}

// One socket, read as a sequence of attribute lists and records in the
// order the protocol says. Reads wait for bytes; a closed or failed
// socket rejects them with IpcError.
export class AttrStream {
  readonly socket: net.Socket;
  #reader = new RecordReader();
  #waiter: Waiter | null = null;
  #ended = false;
  #error: Error | null = null;
  #out: Buffer[] = [];
  #outBytes = 0;
  #flushScheduled = false;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#reader.push(chunk);
      this.#wake();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on('error', (err) => {
      this.#error = err;
      this.#wake();
    });
  }

  static fromSocket(socket: net.Socket): AttrStream {
    return new AttrStream(socket);
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }

  #wait(): Promise<void> {
    if (this.#error) return Promise.reject(new IpcError(this.#error.message));
    if (this.#ended) return Promise.reject(new IpcError('connection closed'));
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  async readAttrs(): Promise<Attrs> {
    for (;;) {
      const pending = this.#reader.pending;
      const got = decodeAttrs(pending);
      if (got) {
        this.#reader.consume(got.used);
        return got.attrs;
      }
      if (pending.length > ATTR_MAX_LIST)
        throw new IpcError('attribute list too long');
      await this.#wait();
    }
  }

  async readRecord(): Promise<Rec> {
    for (;;) {
      const rec = this.#reader.take();
      if (rec) return rec;
      await this.#wait();
    }
  }

  // Bytes until the peer closes; for triggers.
  async readToEnd(): Promise<Buffer> {
    for (;;) {
      if (this.#ended || this.#error) {
        const rest = Buffer.from(this.#reader.pending);
        this.#reader.consume(rest.length);
        return rest;
      }
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
  }

  writeAttrs(attrs: AttrInput): boolean {
    return this.#queue(encodeAttrs(attrs));
  }

  writeRecord(type: string, data: Buffer | string = ''): boolean {
    return this.#queue(recordBytes(type, data));
  }

  // Writes are gathered and sent once per turn of the event loop: a
  // message is one record per line, and a write(2) per record cost more
  // than the rest of the hand-off. false: wait for drain().
  #queue(bytes: Buffer): boolean {
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    if (this.#outBytes >= FLUSH_BYTES) return this.flush();
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return !this.socket.writableNeedDrain;
  }

  // Send what is gathered now.
  flush(): boolean {
    this.#flushScheduled = false;
    if (this.#out.length === 0) return !this.socket.writableNeedDrain;
    const data =
      this.#out.length === 1 ? this.#out[0] : Buffer.concat(this.#out);
    this.#out = [];
    this.#outBytes = 0;
    if (this.socket.destroyed) return false;
    return this.socket.write(data);
  }

  // Resolve when the socket can take more; for streaming large content.
  drain(): Promise<void> {
    this.flush();
    if (!this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new IpcError(err.message));
      this.socket.once('error', onError);
      this.socket.once('drain', () => {
        this.socket.off('error', onError);
        resolve();
      });
    });
  }

  close(): void {
    this.flush();
    // The peer's end may have ended our side already (allowHalfOpen is
    // off), and a second end() costs an error object.
    if (!this.socket.writableEnded && !this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
