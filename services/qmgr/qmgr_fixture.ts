// Test helper: writes committed queue files laid out as Postfix's cleanup
// lays them out (C record of six %15ld fields, T, A, S, recipients, a `p`
// record, M, content, X, E, and an optional heap after E reached by the
// pointer). Used by the queue_file, qmgr and bounce tests only.

import * as fs from 'node:fs';
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
