// The message content of a queue file as the smtp and lmtp clients send
// it: CRLF-ended lines in pieces of about 64 KB, read synchronously from
// the open queue file. One piece is one socket write: a line per write
// (queue_file.ts's contentLines) cost a syscall and a promise per line.
// Used by smtp_deliver.ts. Limits: reads the whole of one record at once.

import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { REC, RecordReader, type Rec } from '../../packages/queue/record';

const PIECE = 64 * 1024;
const CRLF = Buffer.from('\r\n');
// A following of pointers longer than this is a loop in a damaged file.
const MAX_JUMPS = 100_000;

// Records add a type byte and a length of one to three bytes per line,
// and the X and E records follow the content.
function readSizeFor(size: number): number {
  if (!(size > 0)) return PIECE;
  return Math.min(PIECE, size + (size >> 3) + 512);
}

export class ContentReadError extends Error {}

// XXX an adapter: queue_file.ts reads records only through async
// generators; this repeats its pointer following, synchronously.
export class ContentStream extends Readable {
  readonly #fd: number;
  #reader = new RecordReader();
  #filePos: number;
  #eof = false;
  #jumps = 0;
  #visited = new Set<number>();
  #onStart?: () => void;
  readonly #onEnd?: () => void;
  #readSize: number;

  // sizeHint: the content size (qmgr's size), so that a small message
  // is read in one read(2) of about its size.
  constructor(
    fd: number,
    offset: number,
    onStart?: () => void,
    onEnd?: () => void,
    sizeHint = PIECE,
  ) {
    super();
    this.#fd = fd;
    this.#filePos = offset;
    this.#readSize = readSizeFor(sizeHint);
    this.#onStart = onStart;
    this.#onEnd = onEnd;
  }

  override _read(): void {
    this.#onStart?.();
    this.#onStart = undefined;
    try {
      const piece = this.#piece();
      if (piece.length) this.push(piece);
      if (this.#eof) {
        this.#onEnd?.();
        this.push(null);
      }
    } catch (err) {
      this.destroy(err as Error);
    }
  }

  // Lines until PIECE bytes or the end of the content (the X record).
  #piece(): Buffer {
    const parts: Buffer[] = [];
    let size = 0;
    while (size < PIECE && !this.#eof) {
      const rec = this.#next();
      if (rec.type === REC.XTRA) {
        this.#eof = true;
        break;
      }
      parts.push(rec.data);
      size += rec.data.length;
      if (rec.type === REC.CONT) continue;
      parts.push(CRLF);
      size += 2;
    }
    return Buffer.concat(parts, size);
  }

  // The next content record, with pointers followed and padding skipped.
  #next(): Rec {
    for (;;) {
      const rec = this.#take();
      if (rec.type === REC.NORM || rec.type === REC.CONT) return rec;
      if (rec.type === REC.XTRA) return rec;
      if (rec.type === REC.PADDING) continue;
      if (rec.type !== REC.PTR)
        throw new ContentReadError(`bad content record: ${rec.type}`);
      this.#jump(rec.data);
    }
  }

  #jump(data: Buffer): void {
    const text = data.toString('latin1').trim();
    if (!/^\d+$/.test(text))
      throw new ContentReadError(`bad pointer record: ${text}`);
    const target = Number(text);
    if (target === 0) return;
    if (this.#visited.has(target) || ++this.#jumps > MAX_JUMPS)
      throw new ContentReadError(`pointer loop at offset ${target}`);
    this.#visited.add(target);
    this.#reader = new RecordReader();
    this.#filePos = target;
  }

  #take(): Rec {
    for (;;) {
      const rec = this.#reader.take();
      if (rec) return rec;
      const buf = Buffer.allocUnsafe(this.#readSize);
      const n = fs.readSync(this.#fd, buf, 0, buf.length, this.#filePos);
      this.#readSize = PIECE;
      if (n === 0) throw new ContentReadError('no extracted_info record');
      this.#filePos += n;
      this.#reader.push(buf.subarray(0, n));
    }
  }
}
