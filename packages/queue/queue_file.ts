// Reading a committed queue file: its envelope (C record sizes, arrival
// time, attributes, sender, recipients with their file offsets), its
// content lines streamed from the M record, and marking a recipient done
// in place. Used by qmgr, the delivery agents, showq and bounce.
// Follows `p` pointer records as Postfix's cleanup writes them.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { RecordReader, RecordError, REC } from './record';

export class QueueFileError extends Error {}

export interface QueueRecipient {
  recipient: string;
  originalRecipient: string; // O record, '' when none
  dsnOrigRcpt: string; // o record
  notifyFlags: number; // n record
  offset: number; // file offset of the R (or D) record
  done: boolean;
}

export interface QueueEnvelope {
  path: string;
  queueId: string;
  contentSize: number; // C: bytes from dataOffset to the X record
  dataOffset: number; // C: offset of the first content record after M
  rcptCount: number; // C: recipient count as cleanup wrote it
  qmgrFlags: number;
  contentLength: number;
  sendopts: number;
  messageOffset: number; // offset of the M record itself
  arrivalTime: number; // T, seconds with fraction
  createTime: number | undefined; // c or A create_time
  attrs: Record<string, string>; // A records
  sender: string;
  fullname: string;
  dsnEnvid: string;
  dsnRet: number;
  filter: string; // content filter (envelope L or I)
  warnTime: number; // W, 0 when none
  warnOffset: number; // file offset of the W record, -1 when none
  recipients: QueueRecipient[]; // pending: R records
  done: QueueRecipient[]; // finished: D records
  stat: fs.Stats;
}

interface FileRec {
  type: string;
  data: Buffer;
  offset: number;
}

const CHUNK = 64 * 1024;

// A following of pointers longer than this is a loop in a damaged file.
const MAX_JUMPS = 100_000;

// Buffered sequential record reading with seek, over one open file.
// Reads are synchronous: a queue file is local and mostly in the page
// cache, and here one read(2) costs a tenth of the CPU of a promise's
// thread-pool round trip (measured: open, read and close take 8 us
// synchronously, 148 us through fs.promises).
class RecordFile {
  readonly #fd: number;
  #reader = new RecordReader();
  #base = 0;
  #filePos = 0;
  #eof = false;
  #visited = new Set<number>();
  #chunk: { start: number; data: Buffer; last: boolean } | null = null;
  jumps = 0;

  constructor(fd: number) {
    this.#fd = fd;
  }

  // A fresh start at offset: pointers may be followed again from here.
  restart(offset: number): void {
    this.#visited = new Set();
    this.seek(offset);
  }

  seek(offset: number): void {
    this.#reader = new RecordReader();
    this.#base = offset;
    this.#filePos = offset;
    this.#eof = false;
    this.#reuseChunk(offset);
  }

  // Most queue files fit in one chunk: a seek inside the last chunk read
  // (to the X record, along a pointer) costs no read(2).
  #reuseChunk(offset: number): void {
    const chunk = this.#chunk;
    if (!chunk || offset < chunk.start) return;
    const end = chunk.start + chunk.data.length;
    if (offset >= end) return;
    this.#reader.push(chunk.data.subarray(offset - chunk.start));
    this.#filePos = end;
    this.#eof = chunk.last;
  }

  next(): FileRec | null {
    for (;;) {
      const offset = this.#base + this.#reader.offset;
      const rec = this.#reader.take();
      if (rec) return { type: rec.type, data: rec.data, offset };
      if (this.#eof) return null;
      this.#fill();
    }
  }

  #fill(): void {
    const buf = Buffer.allocUnsafe(CHUNK);
    const start = this.#filePos;
    const bytesRead = fs.readSync(this.#fd, buf, 0, CHUNK, start);
    if (bytesRead === 0) this.#eof = true;
    this.#filePos += bytesRead;
    const data = buf.subarray(0, bytesRead);
    this.#chunk = { start, data, last: bytesRead < CHUNK };
    this.#reader.push(data);
  }

  // The next record, with `p` pointers followed and padding skipped.
  nextFollowing(): FileRec | null {
    for (;;) {
      const rec = this.next();
      if (!rec || rec.type !== REC.PTR) {
        if (rec?.type === REC.PADDING) continue;
        return rec;
      }
      const target = parsePointer(rec.data);
      if (target === 0) continue;
      if (this.#visited.has(target) || ++this.jumps > MAX_JUMPS)
        throw new QueueFileError(`pointer loop at offset ${rec.offset}`);
      this.#visited.add(target);
      this.seek(target);
    }
  }
}

function parsePointer(data: Buffer): number {
  const text = data.toString('latin1').trim();
  if (!/^\d+$/.test(text))
    throw new QueueFileError(`bad pointer record: ${text}`);
  return Number(text);
}

// Postfix's mail_open_ok: a regular file whose owner bits are exactly rwx.
export function isQueueFileReady(stat: fs.Stats): boolean {
  return stat.isFile() && (stat.mode & 0o700) === 0o700;
}

function newEnvelope(file: string, stat: fs.Stats): QueueEnvelope {
  return {
    path: file,
    queueId: path.basename(file),
    contentSize: 0,
    dataOffset: 0,
    rcptCount: 0,
    qmgrFlags: 0,
    contentLength: 0,
    sendopts: 0,
    messageOffset: -1,
    arrivalTime: 0,
    createTime: undefined,
    attrs: {},
    sender: '',
    fullname: '',
    dsnEnvid: '',
    dsnRet: 0,
    filter: '',
    warnTime: 0,
    warnOffset: -1,
    recipients: [],
    done: [],
    stat,
  };
}

function parseSize(env: QueueEnvelope, data: Buffer): void {
  const f = data.toString('latin1').trim().split(/\s+/).map(Number);
  if (f.length < 3 || f.slice(0, 3).some((n) => !Number.isInteger(n) || n < 0))
    throw new QueueFileError(`bad message_size record: ${data}`);
  [env.contentSize, env.dataOffset, env.rcptCount] = f;
  env.qmgrFlags = f[3] || 0;
  env.contentLength = f[4] || 0;
  env.sendopts = f[5] || 0;
}

function parseArrival(data: Buffer): number {
  const [sec, usec = '0'] = data.toString('latin1').trim().split(/\s+/);
  const value = Number(sec) + Number(usec) / 1e6;
  if (!Number.isFinite(value))
    throw new QueueFileError(`bad message_arrival_time record: ${data}`);
  return value;
}

// DSN and original-recipient records that precede their R record.
interface PendingRcpt {
  orig: string;
  dsnOrig: string;
  notify: number;
}

const EMPTY_PENDING: PendingRcpt = { orig: '', dsnOrig: '', notify: 0 };

// State of one envelope read: what the records seen so far have set.
interface ReadState {
  env: QueueEnvelope;
  pending: PendingRcpt;
  sawTime: boolean;
  sawSender: boolean;
}

function addRecipient(st: ReadState, rec: FileRec, done: boolean): void {
  const rcpt: QueueRecipient = {
    recipient: rec.data.toString('utf8'),
    originalRecipient: st.pending.orig,
    dsnOrigRcpt: st.pending.dsnOrig,
    notifyFlags: st.pending.notify,
    offset: rec.offset,
    done,
  };
  (done ? st.env.done : st.env.recipients).push(rcpt);
  st.pending = EMPTY_PENDING;
}

// Postfix 3 writes a recipient's DSN fields as named attributes before
// its O and R records, and the envelope's as attributes too.
const RCPT_ATTRS: Record<string, (st: ReadState, value: string) => void> = {
  dsn_orig_rcpt: (st, v) => (st.pending = { ...st.pending, dsnOrig: v }),
  notify_flags: (st, v) =>
    (st.pending = { ...st.pending, notify: Number(v) || 0 }),
};

const ENVELOPE_ATTRS: Record<string, (st: ReadState, value: string) => void> = {
  create_time: (st, v) => (st.env.createTime = Number(v)),
  envelope_id: (st, v) => (st.env.dsnEnvid = v),
  ret_flags: (st, v) => (st.env.dsnRet = Number(v) || 0),
};

function addAttr(st: ReadState, data: Buffer): void {
  const text = data.toString('utf8');
  const eq = text.indexOf('=');
  if (eq <= 0) throw new QueueFileError(`bad named_attribute record: ${text}`);
  const name = text.slice(0, eq);
  const value = text.slice(eq + 1);
  if (RCPT_ATTRS[name]) return RCPT_ATTRS[name](st, value);
  st.env.attrs[name] = value;
  ENVELOPE_ATTRS[name]?.(st, value);
}

type Handler = (st: ReadState, rec: FileRec) => void;

// One handler per record type that the envelope and the extracted segment
// may hold; others (K, V, >, r, e, ...) are skipped as Postfix's qmgr does
// for the ones it does not use.
const HANDLERS: Record<string, Handler> = {
  [REC.SIZE]: (st, r) => parseSize(st.env, r.data),
  [REC.TIME]: (st, r) => {
    st.env.arrivalTime = parseArrival(r.data);
    st.sawTime = true;
  },
  [REC.CTIME]: (st, r) => (st.env.createTime = parseArrival(r.data)),
  [REC.FULLNAME]: (st, r) => (st.env.fullname = r.data.toString('utf8')),
  [REC.SENDER]: (st, r) => {
    st.env.sender = r.data.toString('utf8');
    st.sawSender = true;
  },
  [REC.ATTR]: (st, r) => addAttr(st, r.data),
  [REC.FILTER]: (st, r) => (st.env.filter = r.data.toString('utf8')),
  [REC.INSPECTOR]: (st, r) => (st.env.filter = r.data.toString('utf8')),
  [REC.DSN_ENVID]: (st, r) => (st.env.dsnEnvid = r.data.toString('utf8')),
  [REC.DSN_RET]: (st, r) => (st.env.dsnRet = Number(r.data) || 0),
  [REC.WARN]: (st, r) => {
    st.env.warnTime = Number(r.data) || 0;
    st.env.warnOffset = r.offset;
  },
  [REC.ORCP]: (st, r) => {
    st.pending = { ...st.pending, orig: r.data.toString('utf8') };
  },
  [REC.DSN_ORCPT]: (st, r) => {
    st.pending = { ...st.pending, dsnOrig: r.data.toString('utf8') };
  },
  [REC.DSN_NOTIFY]: (st, r) => {
    st.pending = { ...st.pending, notify: Number(r.data) || 0 };
  },
  [REC.RCPT]: (st, r) => addRecipient(st, r, false),
  [REC.DONE]: (st, r) => addRecipient(st, r, true),
  [REC.DRCP]: (st) => (st.pending = EMPTY_PENDING),
};

function readEnvelopeSegment(rf: RecordFile, st: ReadState) {
  for (;;) {
    const rec = rf.nextFollowing();
    if (!rec) throw new QueueFileError('premature end of file');
    if (rec.type === REC.END)
      throw new QueueFileError('message_end record in envelope');
    if (rec.type === REC.MESG) {
      st.env.messageOffset = rec.offset;
      return rec.offset + 2; // type byte and one length byte of 0
    }
    HANDLERS[rec.type]?.(st, rec);
  }
}

// The record at the C record's offset, or null where that offset holds
// no record (a file whose content has pointer records).
function nextOrNull(rf: RecordFile): FileRec | null {
  try {
    return rf.next();
  } catch {
    return null;
  }
}

// Find the X record: where the C record says it is, else by reading the
// content (a file whose content holds pointer records).
function seekExtracted(rf: RecordFile, env: QueueEnvelope) {
  rf.restart(env.dataOffset + env.contentSize);
  const rec = nextOrNull(rf);
  if (rec?.type === REC.XTRA) return;
  rf.restart(env.dataOffset);
  for (;;) {
    const r = rf.nextFollowing();
    if (!r) throw new QueueFileError('no extracted_info record');
    if (r.type === REC.XTRA) return;
    if (r.type !== REC.NORM && r.type !== REC.CONT)
      throw new QueueFileError(`unexpected record in content: ${r.type}`);
  }
}

function readExtractedSegment(rf: RecordFile, st: ReadState) {
  for (;;) {
    const rec = rf.nextFollowing();
    if (!rec) throw new QueueFileError('no message_end record');
    if (rec.type === REC.END) return;
    HANDLERS[rec.type]?.(st, rec);
  }
}

function checkEnvelope(st: ReadState): void {
  if (!st.sawTime) throw new QueueFileError('no message_arrival_time record');
  if (!st.sawSender) throw new QueueFileError('no sender record');
  if (st.env.messageOffset < 0) throw new QueueFileError('no M record');
  if (st.env.dataOffset === 0) throw new QueueFileError('no message_size');
}

function readAll(fd: number, env: QueueEnvelope) {
  const rf = new RecordFile(fd);
  const st: ReadState = {
    env,
    pending: EMPTY_PENDING,
    sawTime: false,
    sawSender: false,
  };
  readEnvelopeSegment(rf, st);
  checkEnvelope(st);
  seekExtracted(rf, env);
  readExtractedSegment(rf, st);
}

// Open and read the envelope of a committed queue file. A file that is
// not ready (mode) or not well formed (records, E) is a QueueFileError:
// the caller moves it to corrupt/. Errors from the file system (ENOENT)
// pass through unchanged.
export async function readEnvelope(file: string): Promise<QueueEnvelope> {
  const fd = fs.openSync(file, 'r');
  try {
    return await readOpenEnvelope(fd, file);
  } finally {
    fs.closeSync(fd);
  }
}

// For qmgr taking a file: the envelope as readEnvelope reads it, or null
// when an agent holds the file's lock. One open serves both, where a
// lock probe and a read of their own took two.
export async function readEnvelopeIfFree(
  file: string,
): Promise<QueueEnvelope | null> {
  const fd = fs.openSync(file, 'r');
  try {
    if (!probeQueueFileLock(fd)) return null;
    return await readOpenEnvelope(fd, file);
  } finally {
    fs.closeSync(fd);
  }
}

async function readOpenEnvelope(
  fd: number,
  file: string,
): Promise<QueueEnvelope> {
  try {
    const stat = fs.fstatSync(fd);
    if (!isQueueFileReady(stat))
      throw new QueueFileError(`${file}: file is not ready (mode)`);
    const env = newEnvelope(file, stat);
    readAll(fd, env);
    return env;
  } catch (err) {
    if (err instanceof RecordError || err instanceof QueueFileError)
      throw new QueueFileError(`${file}: ${stripPath(err.message, file)}`);
    throw err;
  }
}

function stripPath(text: string, file: string): string {
  return text.startsWith(`${file}: `) ? text.slice(file.length + 2) : text;
}

export interface ContentRecord {
  type: 'N' | 'L';
  data: Buffer;
}

// The content records from dataOffset up to the X record, without loading
// the file; pointer records are followed.
export async function* contentRecords(
  file: string,
  dataOffset: number,
): AsyncGenerator<ContentRecord> {
  const fd = fs.openSync(file, 'r');
  try {
    yield* contentRecordsOf(fd, dataOffset, `${file}: `);
  } finally {
    fs.closeSync(fd);
  }
}

// The same from an open queue file, synchronously, for readers that send
// the content as they read it (the smtp and lmtp clients).
export function* contentRecordsOf(
  fd: number,
  dataOffset: number,
  where = '',
): Generator<ContentRecord> {
  const rf = new RecordFile(fd);
  rf.restart(dataOffset);
  for (;;) {
    const rec = rf.nextFollowing();
    if (!rec) throw new QueueFileError(`${where}no extracted_info record`);
    if (rec.type === REC.XTRA) return;
    if (rec.type !== REC.NORM && rec.type !== REC.CONT)
      throw new QueueFileError(`${where}bad content record: ${rec.type}`);
    yield { type: rec.type, data: rec.data };
  }
}

// Whole content lines without their line ends: L pieces are joined with
// the record that ends the line.
export async function* contentLines(
  file: string,
  dataOffset: number,
): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  for await (const rec of contentRecords(file, dataOffset)) {
    parts.push(rec.data);
    if (rec.type === REC.CONT) continue;
    yield parts.length === 1 ? parts[0] : Buffer.concat(parts);
    parts = [];
  }
  if (parts.length) yield Buffer.concat(parts);
}

// Overwrite the R type byte of one recipient with D, in place, and make
// it durable (fdatasync) before the caller goes on. Marking a D again is
// a no-op; another byte there means a wrong offset, which is refused.
export async function markRecipientDone(
  target: string | number,
  offset: number,
): Promise<void> {
  const fd = typeof target === 'number' ? target : fs.openSync(target, 'r+');
  try {
    if (writeDoneMark(fd, offset)) await fdatasyncFd(fd);
  } finally {
    if (typeof target !== 'number') fs.closeSync(fd);
  }
  if (typeof target === 'string')
    for (const observer of DONE_OBSERVERS) observer(target, offset);
}

// markRecipientDone with the fdatasync on the event loop, which it holds
// for the disk's time (0.1 to 0.3 ms here). local serves one client at a
// time, so nothing waits; smtp's other sessions wait that long, which
// costs less than the thread pool's round trip: 0.17 ms of CPU, where
// the round trip adds 0.15 to 0.35 ms (and, for local, a worker thread
// that every seteuid must signal).
export function markRecipientDoneSync(fd: number, offset: number): void {
  if (writeDoneMark(fd, offset)) fs.fdatasyncSync(fd);
}

// The D byte written, not yet durable: true when it had to be written.
function writeDoneMark(fd: number, offset: number): boolean {
  const byte = Buffer.alloc(1);
  readAt(fd, byte, offset);
  if (byte[0] === REC.DONE.charCodeAt(0)) return false;
  if (byte[0] !== REC.RCPT.charCodeAt(0))
    throw new QueueFileError(
      `markRecipientDone: no recipient record at offset ${offset}`,
    );
  fs.writeSync(fd, Buffer.from(REC.DONE), 0, 1, offset);
  return true;
}

// A mark overwrites one byte in place: the file's size and blocks stay,
// so fdatasync makes it as durable as fsync would, without a journal
// commit for the modification time alone (ext4, xfs).
function fdatasyncFd(fd: number): Promise<void> {
  return new Promise<void>((res, rej) =>
    fs.fdatasync(fd, (err) => (err ? rej(err) : res())),
  );
}

// The one slow step stays off the event loop.
function fsyncFd(fd: number): Promise<void> {
  return new Promise<void>((res, rej) =>
    fs.fsync(fd, (err) => (err ? rej(err) : res())),
  );
}

function readAt(fd: number, buf: Buffer, offset: number): void {
  const n = fs.readSync(fd, buf, 0, buf.length, offset);
  if (n < buf.length) throw eofError(offset);
}

export type RecipientDoneObserver = (file: string, offset: number) => void;

// Told of each recipient that markRecipientDone, given a path, found or
// made durable as done in this process: qmgr keeps its messages' pending
// recipients in memory instead of reading each file again to finish it.
const DONE_OBSERVERS = new Set<RecipientDoneObserver>();

export function observeRecipientsDone(
  observer: RecipientDoneObserver,
): () => void {
  DONE_OBSERVERS.add(observer);
  return () => DONE_OBSERVERS.delete(observer);
}

function eofError(offset: number): QueueFileError {
  return new QueueFileError(`markRecipientDone: offset ${offset} past end`);
}

// flock(2) from fs-ext, as Postfix's INTERNAL_LOCK: an agent holds a
// shared lock while it delivers; qmgr probes with an exclusive one when
// it takes a file into active/, and leaves a locked file for later.
interface FsExt {
  flockSync(fd: number, how: 'sh' | 'ex' | 'shnb' | 'exnb' | 'un'): void;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const fsExt: FsExt = require('fs-ext');

function isBusy(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
}

// True when no agent holds the file (the probe lock is released again).
export function probeQueueFileLock(fd: number): boolean {
  try {
    fsExt.flockSync(fd, 'exnb');
  } catch (err) {
    if (isBusy(err)) return false;
    throw err;
  }
  fsExt.flockSync(fd, 'un');
  return true;
}

// For agents: a shared lock for the time of a delivery, waiting out
// qmgr's brief probe. The lock goes with the descriptor's close.
export async function lockQueueFileShared(
  fd: number,
  timeoutMs = 10_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return fsExt.flockSync(fd, 'shnb');
    } catch (err) {
      if (!isBusy(err) || Date.now() > until) throw err;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

// For agents: the queue file of a request, open for marking recipients
// done and share-locked until the handle is closed, so that a restarted
// qmgr leaves it alone while the delivery runs.
export async function openForDelivery(
  file: string,
): Promise<fs.promises.FileHandle> {
  const fh = await fs.promises.open(file, 'r+');
  try {
    await lockQueueFileShared(fh.fd);
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

// openForDelivery for an agent that works on descriptors: the same
// open and shared lock, without a FileHandle's promise round trips; the
// caller closes the descriptor (fs.closeSync), which drops the lock.
export async function openFdForDelivery(file: string): Promise<number> {
  const fd = fs.openSync(file, 'r+');
  try {
    await lockQueueFileShared(fd);
    return fd;
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

// Rewrite the W record's time in place (Postfix keeps it %15ld wide so
// that it can), and fsync: 0 means no more delay warnings.
export async function updateWarnTime(
  file: string,
  warnOffset: number,
  when: number,
): Promise<void> {
  const fd = fs.openSync(file, 'r+');
  try {
    const head = Buffer.alloc(2);
    readAt(fd, head, warnOffset);
    if (head[0] !== REC.WARN.charCodeAt(0) || head[1] !== 15)
      throw new QueueFileError(`updateWarnTime: no W record at ${warnOffset}`);
    const text = Buffer.from(String(Math.floor(when)).padStart(15, ' '));
    fs.writeSync(fd, text, 0, text.length, warnOffset + 2);
    await fsyncFd(fd);
  } finally {
    fs.closeSync(fd);
  }
}
