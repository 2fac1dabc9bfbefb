// sendmail's standard input as content records: CR-LF made LF, a lone
// "." ending input unless -i, long lines cut into L pieces, and for -t
// the To/Cc/Bcc (or Resent-*) recipients taken from the headers (with
// nodemailer's RFC 5322 address parser), Bcc: removed. Used by
// sendmail.ts.

import type { Readable } from 'node:stream';
import addressparser from 'nodemailer/lib/addressparser';
import { ungroupColons } from './submit_addresses';
import { RecordSink } from './submit_records';
import { REC } from '../queue/record';

// Postfix's is_header(): a field name, optional blanks, then a colon.
const HEADER_RE = /^[\x21-\x39\x3b-\x7e]+[ \t]*:/;
const RECIPIENT_HEADERS = ['to', 'cc', 'bcc'];

export interface MessageOptions {
  ignoreDot: boolean; // -i, -oi
  extract: boolean; // -t
  lineLimit: number; // line_length_limit
  headerLimit: number; // header_size_limit
}

export interface MessageResult {
  extracted: { plain: string[]; resent: string[] };
  size: number;
}

// Lines of a stream without their LF (and a CR before it). A last line
// with no LF is still a line.
export async function* readLines(input: Readable): AsyncGenerator<Buffer> {
  let rest: Buffer | null = null;
  for await (const chunk of input as AsyncIterable<Buffer>) {
    let buf: Buffer = rest ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10, start)) {
      const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
      yield buf.subarray(start, end);
      start = nl + 1;
    }
    rest = start < buf.length ? buf.subarray(start) : null;
  }
  if (rest) yield rest;
}

// Bcc: is removed here because our cleanup does not remove it yet, as
// Postfix's cleanup does for sendmail -t.
// Headers are held one logical header at a time, so that a Bcc: with
// its continuation lines can be dropped whole.
export class MessageWriter {
  #sink: RecordSink;
  #opts: MessageOptions;
  #inHeaders = true;
  #headerBytes = 0;
  #pending: Buffer[] = [];
  #result: MessageResult = { extracted: { plain: [], resent: [] }, size: 0 };

  constructor(sink: RecordSink, opts: MessageOptions) {
    this.#sink = sink;
    this.#opts = opts;
  }

  // Copy all of input; false when a lone "." ended it early.
  async copy(input: Readable): Promise<MessageResult> {
    for await (const line of readLines(input)) {
      if (!this.#opts.ignoreDot && line.length === 1 && line[0] === 46) break;
      await this.#line(line);
    }
    await this.#endHeaders();
    return this.#result;
  }

  async #line(line: Buffer): Promise<void> {
    this.#result.size += line.length + 1;
    if (!this.#inHeaders) return this.#text(line);
    const continued = line.length > 0 && (line[0] === 32 || line[0] === 9);
    if (continued && this.#pending.length > 0) return this.#hold(line);
    await this.#flushHeader();
    if (this.#isHeader(line)) return this.#hold(line);
    await this.#endHeaders();
    await this.#text(line);
  }

  #isHeader(line: Buffer): boolean {
    if (this.#headerBytes > this.#opts.headerLimit) return false;
    return HEADER_RE.test(line.subarray(0, 1000).toString('latin1'));
  }

  #hold(line: Buffer): void {
    this.#headerBytes += line.length + 1;
    this.#pending.push(line);
  }

  async #endHeaders(): Promise<void> {
    await this.#flushHeader();
    this.#inHeaders = false;
  }

  // Emit the held header, unless it is a Bcc: that -t consumes.
  async #flushHeader(): Promise<void> {
    const lines = this.#pending;
    if (lines.length === 0) return;
    this.#pending = [];
    const keep = !this.#opts.extract || !this.#takeRecipients(lines);
    if (keep) for (const l of lines) await this.#text(l);
  }

  // true when the header was a Bcc: (removed from the message).
  #takeRecipients(lines: Buffer[]): boolean {
    const text = lines.map((l) => l.toString('utf8')).join(' ');
    const colon = text.indexOf(':');
    let name = text.slice(0, colon).trim().toLowerCase();
    const resent = name.startsWith('resent-');
    if (resent) name = name.slice(7);
    if (!RECIPIENT_HEADERS.includes(name)) return false;
    const list = resent
      ? this.#result.extracted.resent
      : this.#result.extracted.plain;
    list.push(...parseAddressList(text.slice(colon + 1)));
    return name === 'bcc';
  }

  async #text(line: Buffer): Promise<void> {
    const limit = this.#opts.lineLimit;
    let at = 0;
    while (line.length - at > limit) {
      await this.#sink.put(REC.CONT, line.subarray(at, at + limit));
      at += limit;
    }
    await this.#sink.put(REC.NORM, line.subarray(at));
  }
}

// Addresses of a header or a command-line argument: "A <a@b>, c@d".
export function parseAddressList(text: string): string[] {
  const parsed = addressparser(ungroupColons(text), { flatten: true });
  return parsed.map((a) => a.address).filter((a) => a !== '');
}
