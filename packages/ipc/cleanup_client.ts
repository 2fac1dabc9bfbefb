// Client side of the cleanup protocol (public/cleanup): take a queue ID,
// send flags and queue-file records, read the status. Used by smtpd,
// pickup, local (forwarding) and bounce. Records are streamed: callers
// await drain() when record() returns false.

import { connectService, type AttrStream } from './ipc';
import { REC } from '../queue/record';

export const CLEANUP_FLAG = {
  BOUNCE: 1,
  FILTER: 2,
  HOLD: 4,
  DISCARD: 8,
  BCC_OK: 16,
  MAP_OK: 32,
  MILTER: 64,
  SMTP_REPLY: 128,
  SMTPUTF8: 256,
} as const;

// Postfix's cleanup_user.h bits.
export const CLEANUP_STAT = {
  OK: 0,
  BAD: 1,
  WRITE: 2,
  SIZE: 4,
  CONT: 8,
  HOPS: 16,
  RCPT: 64,
  PROXY: 128,
  DEFER: 256,
  NOPERM: 512,
  BARE_LF: 1 << 16,
} as const;

export interface CleanupReply {
  code: number;
  dsn: string;
  text: string;
}

// Postfix's cleanup_strerror table, most serious first, so that a status
// with several bits gives one reply as Postfix does.
const STAT_REPLIES: ReadonlyArray<[number, CleanupReply]> = [
  [
    CLEANUP_STAT.BARE_LF,
    { code: 521, dsn: '5.5.2', text: 'bare <LF> received' },
  ],
  [
    CLEANUP_STAT.DEFER,
    { code: 451, dsn: '4.7.1', text: 'service unavailable' },
  ],
  [
    CLEANUP_STAT.PROXY,
    { code: 451, dsn: '4.3.0', text: 'queue file write error' },
  ],
  [
    CLEANUP_STAT.BAD,
    { code: 451, dsn: '4.3.0', text: 'internal protocol error' },
  ],
  [
    CLEANUP_STAT.RCPT,
    { code: 550, dsn: '5.1.0', text: 'no recipients specified' },
  ],
  [CLEANUP_STAT.HOPS, { code: 554, dsn: '5.4.0', text: 'too many hops' }],
  [
    CLEANUP_STAT.SIZE,
    { code: 552, dsn: '5.3.4', text: 'message file too big' },
  ],
  [
    CLEANUP_STAT.CONT,
    { code: 550, dsn: '5.7.1', text: 'message content rejected' },
  ],
  [
    CLEANUP_STAT.WRITE,
    { code: 451, dsn: '4.3.0', text: 'queue file write error' },
  ],
  [CLEANUP_STAT.NOPERM, { code: 550, dsn: '5.7.1', text: 'service denied' }],
];

// The SMTP reply for a non-zero status; undefined for 0.
export function cleanupStatusReply(status: number): CleanupReply | undefined {
  for (const [bit, reply] of STAT_REPLIES) if (status & bit) return reply;
  if (status !== 0)
    return { code: 451, dsn: '4.3.0', text: 'queue file write error' };
  return undefined;
}

export interface CleanupResult {
  status: number;
  reason: string;
}

export class CleanupError extends Error {}

export class CleanupClient {
  readonly queueId: string;
  #stream: AttrStream;
  #finished = false;

  private constructor(stream: AttrStream, queueId: string) {
    this.#stream = stream;
    this.queueId = queueId;
  }

  static async open(queueDir: string, flags: number): Promise<CleanupClient> {
    const stream = await connectService(queueDir, 'public', 'cleanup');
    try {
      const hello = await stream.readAttrs();
      if (hello.protocol !== 'cleanup_protocol' || !hello.queue_id)
        throw new CleanupError(
          `CleanupClient.open: bad greeting: protocol=${hello.protocol}`,
        );
      stream.writeAttrs({ flags });
      return new CleanupClient(stream, hello.queue_id);
    } catch (err) {
      stream.destroy();
      throw err instanceof CleanupError
        ? err
        : new CleanupError(`CleanupClient.open: ${(err as Error).message}`);
    }
  }

  // false: the socket buffer is full; await drain() before more.
  record(type: string, data: Buffer | string = ''): boolean {
    return this.#stream.writeRecord(type, data);
  }

  drain(): Promise<void> {
    return this.#stream.drain();
  }

  // Send records in order, waiting on the socket when it is full.
  async records(list: Iterable<[string, Buffer | string]>): Promise<void> {
    for (const [type, data] of list)
      if (!this.record(type, data)) await this.drain();
  }

  // Send E unless the caller did, then wait for cleanup's verdict. A lost
  // connection is a temporary failure: the file was not committed.
  async finish(sendEnd = false): Promise<CleanupResult> {
    if (sendEnd) this.record(REC.END);
    this.#finished = true;
    try {
      const reply = await this.#stream.readAttrs();
      return {
        status: Number(reply.status ?? CLEANUP_STAT.BAD),
        reason: reply.reason ?? '',
      };
    } catch (err) {
      return {
        status: CLEANUP_STAT.WRITE,
        reason: `cleanup: ${(err as Error).message}`,
      };
    } finally {
      this.#stream.close();
    }
  }

  // Give up on the message: cleanup removes its file when we go away.
  abort(): void {
    if (!this.#finished) this.#stream.destroy();
    this.#finished = true;
  }
}
