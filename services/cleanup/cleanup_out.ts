// Buffered writer of queue-file records for cleanup: records are queued
// in memory and written in batches at their file offsets, and the C
// record is rewritten in place at the end. Used by cleanup_state.ts.
// Memory is bounded by FLUSH_BYTES: callers await flush() when told.

import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { encodeRecord, REC } from '../../packages/queue/record';

const writev = promisify(fs.writev);
const pwrite = promisify(
  (
    fd: number,
    buf: Buffer,
    position: number,
    cb: (err: NodeJS.ErrnoException | null, written: number) => void,
  ) => fs.write(fd, buf, 0, buf.length, position, cb),
);

const FLUSH_BYTES = 64 * 1024;
const SIZE_FIELD_WIDTH = 15;

export interface SizeFields {
  contentSize: number;
  dataOffset: number;
  rcptCount: number;
  qmgrFlags: number;
  contentLength: number;
  sendopts: number;
}

// The six "%15ld" fields of the C record; fixed width so that the final
// values fit where the placeholder was.
export function formatSizeRecord(fields: SizeFields): string {
  return [
    fields.contentSize,
    fields.dataOffset,
    fields.rcptCount,
    fields.qmgrFlags,
    fields.contentLength,
    fields.sendopts,
  ]
    .map((n) => String(n).padStart(SIZE_FIELD_WIDTH, ' '))
    .join(' ');
}

export class QueueFileWriter {
  readonly fd: number;
  #offset = 0;
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(fd: number) {
    this.fd = fd;
  }

  // File offset where the next record will start.
  get offset(): number {
    return this.#offset;
  }

  // Queue one record; returns its offset. true from needsFlush() means
  // the caller should await flush() before queueing more.
  put(type: string, data: Buffer | string = ''): number {
    const at = this.#offset;
    const rec = encodeRecord(type, data);
    this.#pending.push(rec);
    this.#pendingBytes += rec.length;
    this.#offset += rec.length;
    return at;
  }

  get needsFlush(): boolean {
    return this.#pendingBytes >= FLUSH_BYTES;
  }

  async flush(): Promise<void> {
    if (this.#pendingBytes === 0) return;
    const chunks = this.#pending;
    const start = this.#offset - this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    let written = (await writev(this.fd, chunks, start)).bytesWritten;
    const total = chunks.reduce((sum, c) => sum + c.length, 0);
    // A short write is rare on a regular file; finish it piece by piece.
    if (written < total) {
      const rest = Buffer.concat(chunks).subarray(written);
      written += await pwrite(this.fd, rest, start + written);
    }
    if (written < total)
      throw new Error(`QueueFileWriter.flush: short write: ${written}`);
  }

  // Rewrite the C record at its offset: the placeholder that put()
  // wrote there has the same length.
  async patchSize(sizeOffset: number, fields: SizeFields): Promise<void> {
    const rec = encodeRecord(REC.SIZE, formatSizeRecord(fields));
    await pwrite(this.fd, rec, sizeOffset);
  }
}
