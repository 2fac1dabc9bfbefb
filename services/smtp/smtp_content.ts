// The message content of a queue file as the smtp and lmtp clients send
// it: CRLF-ended lines in pieces of about 64 KB, read synchronously from
// the open queue file (queue_file.ts's contentRecordsOf). One piece is
// one socket write: a line per write cost a syscall and a promise per
// line. Used by smtp_deliver.ts.

import { Readable } from 'node:stream';
import {
  contentRecordsOf,
  type ContentRecord,
} from '../../packages/queue/queue_file';
import { REC } from '../../packages/queue/record';

const PIECE = 64 * 1024;
const CRLF = Buffer.from('\r\n');

export class ContentStream extends Readable {
  readonly #records: Generator<ContentRecord>;
  #eof = false;
  #onStart?: () => void;
  readonly #onEnd?: () => void;

  constructor(
    fd: number,
    offset: number,
    onStart?: () => void,
    onEnd?: () => void,
  ) {
    super();
    this.#records = contentRecordsOf(fd, offset);
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
    while (size < PIECE) {
      const next = this.#records.next();
      if (next.done) {
        this.#eof = true;
        break;
      }
      const rec = next.value;
      parts.push(rec.data);
      size += rec.data.length;
      if (rec.type === REC.CONT) continue;
      parts.push(CRLF);
      size += 2;
    }
    return Buffer.concat(parts, size);
  }
}
