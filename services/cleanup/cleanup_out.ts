// Buffered writer of queue-file records for cleanup: records are queued
// in memory and written in batches at their file offsets, and the C
// record is rewritten in place at the end. Used by cleanup_state.ts.
// Memory is bounded by FLUSH_BYTES: callers flushSync() when told.
// Writes are synchronous: they land in the page cache (the commit's
// fsync waits for the disk), and a thread-pool call costs more CPU.

import * as fs from 'node:fs';
import { encodeRecord, REC } from '../../packages/queue/record';
import { recordBytes } from '../../packages/ipc/attr';

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
  // the caller should flushSync() before queueing more.
  put(type: string, data: Buffer | string = ''): number {
    const at = this.#offset;
    const rec = recordBytes(type, data); // one buffer, not three
    this.#pending.push(rec);
    this.#pendingBytes += rec.length;
    this.#offset += rec.length;
    return at;
  }

  get needsFlush(): boolean {
    return this.#pendingBytes >= FLUSH_BYTES;
  }

  // All queued records in one writev.
  flushSync(): void {
    if (this.#pendingBytes === 0) return;
    const chunks = this.#pending;
    const total = this.#pendingBytes;
    const start = this.#offset - total;
    this.#pending = [];
    this.#pendingBytes = 0;
    let written = fs.writevSync(this.fd, chunks, start);
    // A short write is rare on a regular file; finish it in one piece.
    if (written < total) {
      const rest = Buffer.concat(chunks).subarray(written);
      written += fs.writeSync(this.fd, rest, 0, rest.length, start + written);
    }
    if (written < total)
      throw new Error(`QueueFileWriter.flushSync: short write: ${written}`);
  }

  // Rewrite the C record at its offset: the placeholder that put()
  // wrote there has the same length.
  patchSizeSync(sizeOffset: number, fields: SizeFields): void {
    const rec = encodeRecord(REC.SIZE, formatSizeRecord(fields));
    fs.writeSync(this.fd, rec, 0, rec.length, sizeOffset);
  }
}
