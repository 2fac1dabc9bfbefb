// Test helpers: committed queue files laid out as Postfix's cleanup lays
// them out (C record of six %15ld fields, T, A, S, recipients, a `p`
// record, M, content, X, E, and an optional heap after E reached by the
// pointer), and a tiny real delivery agent. For the queue_file, qmgr and
// bounce tests only.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { AttrStream } from '../../packages/ipc/ipc';
import {
  readDeliveryRequest,
  writeDeliveryResults,
  type DeliveryAction,
  type DeliveryRecipient,
  type DeliveryRequest,
} from '../../packages/queue/delivery';
import {
  markRecipientDone,
  openForDelivery,
} from '../../packages/queue/queue_file';
import { encodeRecord, REC } from '../../packages/queue/record';

export interface FixtureRecipient {
  address: string;
  orig?: string;
  dsnOrig?: string;
  notify?: number;
  done?: boolean;
}

export interface FixtureSpec {
  sender: string;
  recipients: FixtureRecipient[];
  lines?: string[]; // content lines; over 2048 bytes become L + N
  arrival?: number; // seconds
  attrs?: Record<string, string>;
  heapRecipients?: FixtureRecipient[]; // reached through the p record
  mode?: number; // default 0o700
  omitEnd?: boolean;
  warnTime?: number; // a W record: when the first delay warning is due
}

const LINE_LIMIT = 2048;

function pad15(n: number): string {
  return String(n).padStart(15, ' ');
}

function sizeRecord(size: number, offset: number, count: number): Buffer {
  const fields = [size, offset, count, 0, size, 0].map(pad15).join(' ');
  return encodeRecord(REC.SIZE, fields);
}

function recipientRecords(r: FixtureRecipient): Buffer[] {
  const out: Buffer[] = [];
  if (r.notify) out.push(encodeRecord(REC.DSN_NOTIFY, String(r.notify)));
  if (r.dsnOrig) out.push(encodeRecord(REC.DSN_ORCPT, r.dsnOrig));
  out.push(encodeRecord(REC.ORCP, r.orig ?? r.address));
  out.push(encodeRecord(r.done ? REC.DONE : REC.RCPT, r.address));
  return out;
}

function contentRecords(lines: string[]): Buffer[] {
  const out: Buffer[] = [];
  for (const line of lines) {
    let rest = Buffer.from(line, 'utf8');
    while (rest.length > LINE_LIMIT) {
      out.push(encodeRecord(REC.CONT, rest.subarray(0, LINE_LIMIT)));
      rest = rest.subarray(LINE_LIMIT);
    }
    out.push(encodeRecord(REC.NORM, rest));
  }
  return out;
}

function envelopeRecords(spec: FixtureSpec, arrival: number): Buffer[] {
  const sec = Math.floor(arrival);
  const usec = Math.round((arrival - sec) * 1e6);
  const out = [
    encodeRecord(REC.TIME, `${sec} ${usec}`),
    ...(spec.warnTime
      ? [encodeRecord(REC.WARN, pad15(Math.floor(spec.warnTime)))]
      : []),
    encodeRecord(REC.ATTR, `create_time=${sec}`),
    encodeRecord(REC.ATTR, 'rewrite_context=local'),
    encodeRecord(REC.SENDER, spec.sender),
  ];
  for (const [k, v] of Object.entries(spec.attrs ?? {}))
    out.push(encodeRecord(REC.ATTR, `${k}=${v}`));
  for (const r of spec.recipients) out.push(...recipientRecords(r));
  return out;
}

// The whole file as bytes. The p record sits before M: with heap
// recipients it points past E, and the heap ends with a p back to M.
export function buildQueueFile(spec: FixtureSpec): Buffer {
  const arrival = spec.arrival ?? Date.now() / 1000;
  const count = spec.recipients.length + (spec.heapRecipients?.length ?? 0);
  const head = Buffer.concat(envelopeRecords(spec, arrival));
  const sizeLen = sizeRecord(0, 0, 0).length;
  const ptrAt = sizeLen + head.length;
  const ptrLen = encodeRecord(REC.PTR, pad15(0)).length;
  const mesgAt = ptrAt + ptrLen;
  const dataOffset = mesgAt + 2;
  const content = Buffer.concat(contentRecords(spec.lines ?? ['hello']));
  const tail = [encodeRecord(REC.XTRA, '')];
  if (!spec.omitEnd) tail.push(encodeRecord(REC.END, ''));
  const tailBuf = Buffer.concat(tail);
  const heapAt = dataOffset + content.length + tailBuf.length;
  const heap = spec.heapRecipients?.length
    ? Buffer.concat([
        ...spec.heapRecipients.flatMap(recipientRecords),
        encodeRecord(REC.PTR, pad15(mesgAt)),
      ])
    : Buffer.alloc(0);
  return Buffer.concat([
    sizeRecord(content.length, dataOffset, count),
    head,
    encodeRecord(REC.PTR, pad15(heap.length ? heapAt : 0)),
    encodeRecord(REC.MESG, ''),
    content,
    tailBuf,
    heap,
  ]);
}

// Write a committed file (fsync, then mode 0700 unless spec.mode says).
export function writeQueueFile(file: string, spec: FixtureSpec): void {
  const fd = fs.openSync(file, 'w', 0o600);
  fs.writeSync(fd, buildQueueFile(spec));
  fs.fsyncSync(fd);
  fs.fchmodSync(fd, spec.mode ?? 0o700);
  fs.closeSync(fd);
}

// A tiny real delivery agent on private/<transport>: decides each
// recipient with `decide`, marks delivered ones done in the queue file as
// a real agent must, and records what it saw.
export interface AgentAnswer {
  action: DeliveryAction;
  status: string;
  reason: string;
}

export type Decide = (
  rcpt: DeliveryRecipient,
  req: DeliveryRequest,
) => AgentAnswer;

export class TestAgent {
  readonly requests: DeliveryRequest[] = [];
  readonly delivered: string[] = [];
  busy = 0;
  maxBusy = 0;
  siteFailure: { status: string; reason: string } | undefined;
  delayMs = 0;
  readonly #server: net.Server;
  readonly #queueDir: string;
  readonly #decide: Decide;
  readonly #socketPath: string;

  constructor(queueDir: string, transport: string, decide: Decide) {
    this.#queueDir = queueDir;
    this.#decide = decide;
    this.#socketPath = path.join(queueDir, 'private', transport);
    this.#server = net.createServer((s) => void this.#serve(s));
  }

  listen(): Promise<void> {
    return new Promise((res) => this.#server.listen(this.#socketPath, res));
  }

  close(): Promise<void> {
    return new Promise((res) => this.#server.close(() => res()));
  }

  async #serve(socket: net.Socket): Promise<void> {
    const stream = AttrStream.fromSocket(socket);
    this.maxBusy = Math.max(this.maxBusy, ++this.busy);
    try {
      const req = await readDeliveryRequest(stream);
      this.requests.push(req);
      const results = await this.#deliver(req);
      await writeDeliveryResults(stream, results, this.siteFailure);
    } catch {
      // the qmgr went away; nothing to answer
    } finally {
      this.busy--;
      stream.close();
    }
  }

  async #one(fd: number, rcpt: DeliveryRecipient, req: DeliveryRequest) {
    const answer = this.#decide(rcpt, req);
    if (answer.action === 'delivered') {
      this.delivered.push(rcpt.recipient);
      await markRecipientDone(fd, rcpt.offset);
    }
    return { offset: rcpt.offset, ...answer };
  }

  // As a real agent: the queue file open and share-locked throughout.
  async #deliver(req: DeliveryRequest) {
    const file = path.join(this.#queueDir, req.queueName, req.queueId);
    const fh = await openForDelivery(file);
    try {
      if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
      const results = [];
      for (const rcpt of req.recipients)
        results.push(await this.#one(fh.fd, rcpt, req));
      return results;
    } finally {
      await fh.close();
    }
  }
}

export const DELIVER: AgentAnswer = {
  action: 'delivered',
  status: '2.0.0',
  reason: 'delivered to mailbox',
};
