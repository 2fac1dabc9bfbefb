// Client side of the cleanup protocol (public/cleanup): take a queue ID,
// send flags and queue-file records, read the status. Used by smtpd,
// pickup, local (forwarding) and bounce. Records are streamed: callers
// await drain() when record() returns false. smtpd keeps a connection
// that cleanup offers (reuse=1) for its next message, for a little while.

import { connectService, type AttrStream } from './ipc';
import {
  KeptConnections,
  NEXT_REQUEST,
  SERVER_IDLE_MS,
} from './kept_connection';
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

// What a client asks on a kept connection for cleanup to start another
// message, which cleanup answers with a new greeting; how long cleanup
// waits for it (kept_connection.ts).
export const CLEANUP_NEXT = NEXT_REQUEST;
export const CLEANUP_REUSE_IDLE_MS = SERVER_IDLE_MS;

// Connections to the cleanup of each queue directory, idle.
const kept = new KeptConnections();

interface Greeting {
  stream: AttrStream;
  queueId: string;
  reusable: boolean;
}

export class CleanupClient {
  readonly queueId: string;
  #stream: AttrStream;
  #finished = false;
  #keepFor: string | null; // the queue directory, when we may keep it

  private constructor(greeting: Greeting, keepFor: string | null) {
    this.#stream = greeting.stream;
    this.queueId = greeting.queueId;
    this.#keepFor = greeting.reusable ? keepFor : null;
  }

  // reuse: take a kept connection when there is one, and keep this one
  // after the message when cleanup offers it (smtpd, many messages).
  static async open(
    queueDir: string,
    flags: number,
    reuse = false,
  ): Promise<CleanupClient> {
    const greeting =
      (reuse && (await greetKept(queueDir))) || (await greetNew(queueDir));
    greeting.stream.writeAttrs({ flags });
    return new CleanupClient(greeting, reuse ? queueDir : null);
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
    let status: number = CLEANUP_STAT.WRITE;
    try {
      const reply = await this.#stream.readAttrs();
      status = Number(reply.status ?? CLEANUP_STAT.BAD);
      return { status, reason: reply.reason ?? '' };
    } catch (err) {
      return { status, reason: `cleanup: ${(err as Error).message}` };
    } finally {
      this.#release(status);
    }
  }

  // After a whole request and a status of 0, the connection is clean:
  // keep it when cleanup offered to serve another message on it.
  #release(status: number): void {
    const stream = this.#stream;
    if (!this.#keepFor || status !== 0 || stream.socket.destroyed)
      return stream.close();
    kept.keep(this.#keepFor, stream);
  }

  // Give up on the message: cleanup removes its file when we go away.
  abort(): void {
    if (!this.#finished) this.#stream.destroy();
    this.#finished = true;
  }
}

function readGreeting(stream: AttrStream): Promise<Greeting> {
  return stream.readAttrs().then((hello) => {
    if (hello.protocol !== 'cleanup_protocol' || !hello.queue_id)
      throw new CleanupError(
        `CleanupClient.open: bad greeting: protocol=${hello.protocol}`,
      );
    return { stream, queueId: hello.queue_id, reusable: hello.reuse === '1' };
  });
}

async function greetNew(queueDir: string): Promise<Greeting> {
  const stream = await connectService(queueDir, 'public', 'cleanup');
  try {
    return await readGreeting(stream);
  } catch (err) {
    stream.destroy();
    throw err instanceof CleanupError
      ? err
      : new CleanupError(`CleanupClient.open: ${(err as Error).message}`);
  }
}

// A kept connection, asked for another message; null when none is left
// that works (cleanup went away or closed it meanwhile): the caller then
// connects afresh, which is safe as no queue file was made for us yet.
async function greetKept(queueDir: string): Promise<Greeting | null> {
  for (let stream = kept.take(queueDir); stream; stream = kept.take(queueDir)) {
    stream.writeAttrs(CLEANUP_NEXT);
    try {
      return await readGreeting(stream);
    } catch {
      stream.destroy();
    }
  }
  return null;
}
