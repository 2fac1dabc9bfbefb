// A queue-file record writer over a pipe or socket with back-pressure,
// batching small records into larger writes so that a 100 MB message
// streams in flat memory. Used by sendmail (to postdrop) and postdrop
// (to its maildrop file through a file stream).

import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { encodeRecord } from '../queue/record';

const BATCH_BYTES = 64 * 1024;

export class RecordSink {
  #out: Writable;
  #parts: Buffer[] = [];
  #size = 0;

  constructor(out: Writable) {
    this.#out = out;
  }

  async put(type: string, data: Buffer | string = ''): Promise<void> {
    const rec = encodeRecord(type, data);
    this.#parts.push(rec);
    this.#size += rec.length;
    if (this.#size >= BATCH_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#size === 0) return;
    const chunk = Buffer.concat(this.#parts, this.#size);
    this.#parts = [];
    this.#size = 0;
    if (!this.#out.write(chunk)) await drainOrFail(this.#out);
  }
}

// A closed pipe never drains: give up on 'error' or 'close' too.
async function drainOrFail(out: Writable): Promise<void> {
  const ac = new AbortController();
  try {
    await Promise.race([
      once(out, 'drain', { signal: ac.signal }),
      once(out, 'close', { signal: ac.signal }).then(() => {
        throw new Error('output closed');
      }),
    ]);
  } finally {
    ac.abort();
  }
}
