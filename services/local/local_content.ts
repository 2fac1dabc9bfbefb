// Reading a message's content from its queue file, synchronously, from an
// fd opened before local switches to a user's rights. Used by every
// local delivery kind; the first 64 KB are read once per request, the
// rest once per destination. Known limit: a record longer than one chunk
// is read in several calls.

import * as fs from 'node:fs';
import { RecordReader, RecordError } from '../../packages/queue/record';
import type { DeliveryRequest } from '../../packages/queue/delivery';
import type { LocalMessage } from './local_state';

const CHUNK = 64 * 1024;
// Past the content: the X and E records, and a few bytes to spare.
const HEAD_SLACK = 64;

// Each content line, without its line end, in order; L records (pieces
// of a long line) are joined to the N record that ends the line. head,
// when given, holds the file's bytes from offset on, read before: most
// messages fit in it, and every copy then reads no more.
export function* contentLines(
  fd: number,
  offset: number,
  head?: Buffer,
): Generator<Buffer> {
  const reader = new RecordReader();
  let pos = offset;
  if (head) {
    reader.push(head);
    pos += head.length;
  }
  let pieces: Buffer[] = [];
  for (;;) {
    const rec = reader.take();
    if (!rec) {
      const chunk = readChunk(fd, pos, CHUNK);
      pos += chunk.length;
      reader.push(chunk);
      continue;
    }
    if (rec.type === 'L') pieces.push(rec.data);
    else if (rec.type === 'N') {
      yield pieces.length ? Buffer.concat([...pieces, rec.data]) : rec.data;
      pieces = [];
    } else if (rec.type === 'X' || rec.type === 'E') return;
    else if (rec.type !== 'w' && rec.type !== 'p')
      throw new RecordError(`unexpected record type ${rec.type} in content`);
  }
}

// A fresh buffer for each read: the records taken from it keep pointing
// into it, so it is never reused and never copied.
function readChunk(fd: number, pos: number, size: number): Buffer {
  const chunk = Buffer.allocUnsafe(size);
  const got = fs.readSync(fd, chunk, 0, size, pos);
  if (got === 0) throw new RecordError('premature end of queue file');
  return chunk.subarray(0, got);
}

// The content's first bytes: the C record's size and the X and E records
// after it, or one chunk of a larger message.
function readHead(fd: number, offset: number, size: number): Buffer {
  const want = size >= 0 ? Math.min(CHUNK, size + HEAD_SLACK) : CHUNK;
  return readChunk(fd, offset, want);
}

// The lower-cased values of the Delivered-To: headers, for loop detection.
export function scanDeliveredTo(
  fd: number,
  offset: number,
  head?: Buffer,
): Set<string> {
  const found = new Set<string>();
  for (const line of contentLines(fd, offset, head)) {
    if (line.length === 0) break;
    const text = line.toString('latin1');
    const m = /^delivered-to:\s*(.*?)\s*$/i.exec(text);
    if (m) found.add(m[1].toLowerCase());
  }
  return found;
}

// asctime(3) shape for the mbox From_ line: "Thu Dec  3 10:06:13 2026".
export function asctime(when: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${days[when.getDay()]} ${months[when.getMonth()]} ` +
    `${String(when.getDate()).padStart(2, ' ')} ` +
    `${two(when.getHours())}:${two(when.getMinutes())}:` +
    `${two(when.getSeconds())} ${when.getFullYear()}`
  );
}

export interface CopyOptions {
  fromLine: boolean; // mbox From_ line first
  quoteFrom: boolean; // ">From " for body lines that start with "From "
  blankLine: boolean; // one empty line after the message (mbox)
  returnPath: boolean;
  originalRecipient: string; // X-Original-To:, empty for none
  deliveredTo: string; // Delivered-To:, empty for none
}

// The per-delivery part of CopyOptions; the kind of destination adds the
// rest.
export type HeaderValues = Pick<
  CopyOptions,
  'originalRecipient' | 'deliveredTo'
>;

// What each kind of destination gets, as Postfix's mail_copy flags.
export const COPY_MBOX = {
  fromLine: true,
  quoteFrom: true,
  blankLine: true,
  returnPath: true,
} as const;
export const COPY_MAILDIR = {
  fromLine: false,
  quoteFrom: false,
  blankLine: false,
  returnPath: true,
} as const;
export const COPY_COMMAND = {
  fromLine: true,
  quoteFrom: false,
  blankLine: false,
  returnPath: true,
} as const;
export const COPY_FORWARD = {
  fromLine: false,
  quoteFrom: false,
  blankLine: false,
  returnPath: false,
} as const;

// The bytes a destination receives, in chunks of about CHUNK bytes:
// envelope headers first, as Postfix's mail_copy writes them.
export function* messageChunks(
  msg: LocalMessage,
  opts: CopyOptions,
): Generator<Buffer> {
  const parts: Buffer[] = [Buffer.from(envelopeHeaders(msg, opts), 'utf8')];
  let size = parts[0].length;
  const nl = Buffer.from('\n');
  const quote = Buffer.from('>');
  for (const line of contentLines(msg.fd, msg.contentOffset, msg.head)) {
    if (opts.quoteFrom && isFromLine(line)) parts.push(quote);
    parts.push(line, nl);
    size += line.length + 1;
    if (size >= CHUNK) {
      yield Buffer.concat(parts);
      parts.length = 0;
      size = 0;
    }
  }
  if (opts.blankLine) parts.push(nl);
  if (parts.length) yield Buffer.concat(parts);
}

function envelopeHeaders(msg: LocalMessage, opts: CopyOptions): string {
  let text = '';
  if (opts.fromLine) {
    const from = msg.sender || 'MAILER-DAEMON';
    text += `From ${from}  ${asctime(new Date())}\n`;
  }
  if (opts.returnPath) text += `Return-Path: <${msg.sender}>\n`;
  if (opts.originalRecipient)
    text += `X-Original-To: ${opts.originalRecipient}\n`;
  if (opts.deliveredTo) text += `Delivered-To: ${opts.deliveredTo}\n`;
  return text;
}

// mboxo quoting: only lines that start with exactly "From ".
function isFromLine(line: Buffer): boolean {
  return (
    line.length >= 5 &&
    line[0] === 0x46 &&
    line[1] === 0x72 &&
    line[2] === 0x6f &&
    line[3] === 0x6d &&
    line[4] === 0x20
  );
}

// Write every chunk to fd; the number of bytes written. room is how many
// bytes mailbox_size_limit leaves (Infinity for none); going over fails
// with EFBIG, as a write past RLIMIT_FSIZE does for Postfix.
export function writeMessage(
  fd: number,
  msg: LocalMessage,
  opts: CopyOptions,
  room = Infinity,
): number {
  let total = 0;
  for (const chunk of messageChunks(msg, opts)) {
    if (total + chunk.length > room) throw fileTooLarge();
    let done = 0;
    while (done < chunk.length)
      done += fs.writeSync(fd, chunk, done, chunk.length - done);
    total += chunk.length;
  }
  return total;
}

export function fileTooLarge(): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error('File too large');
  err.code = 'EFBIG';
  err.syscall = 'write';
  return err;
}

// The message of a delivery request as local's and virtual's writers see
// it, its Delivered-To: headers read once from the open queue file, with
// the content's first bytes, which each copy uses again.
export function requestMessage(req: DeliveryRequest, fd: number): LocalMessage {
  const head = readHead(fd, req.offset, req.size);
  return {
    queueId: req.queueId,
    sender: req.sender,
    arrivalTime: req.arrivalTime,
    fd,
    contentOffset: req.offset,
    size: req.size,
    envelopeId: req.envelopeId,
    client: {
      name: req.logClientName,
      address: req.logClientAddress,
      protocol: req.logProtocolName,
      helo: req.logHeloName,
    },
    deliveredTo: scanDeliveredTo(fd, req.offset, head),
    head,
  };
}
