// Queue-file records: one type byte, the length as a base-128 varint with
// the low seven bits first, then the data. Shared by the queue files and
// the cleanup protocol, so that Postfix's own postcat can read our files.

export const REC = {
  SIZE: 'C',
  TIME: 'T',
  CTIME: 'c',
  FULLNAME: 'F',
  INSPECTOR: 'I',
  FILTER: 'L',
  SENDER: 'S',
  ATTR: 'A',
  ORCP: 'O',
  RCPT: 'R',
  DONE: 'D',
  DRCP: '/',
  REDIRECT: '>',
  WARN: 'W',
  VERP: 'V',
  DSN_RET: '<',
  DSN_ENVID: 'i',
  DSN_ORCPT: 'o',
  DSN_NOTIFY: 'n',
  PRIORITY: 'P',
  PTR: 'p',
  KILLED: 'K',
  FLAGS: 'f',
  DELAY: 'd',
  MILTCOUNT: 'm',
  MESG: 'M',
  NORM: 'N',
  CONT: 'L',
  PADDING: 'w',
  XTRA: 'X',
  RRTO: 'r',
  ERTO: 'e',
  END: 'E',
} as const;

export type RecordType = (typeof REC)[keyof typeof REC];

// Names as Postfix's postcat prints them (src/global/rec_type.c).
export const REC_NAMES: Record<string, string> = {
  C: 'message_size',
  T: 'message_arrival_time',
  c: 'queue_file_create_time',
  F: 'sender_fullname',
  I: 'content_inspector',
  L: 'content_filter',
  S: 'sender',
  A: 'named_attribute',
  O: 'original_recipient',
  R: 'recipient',
  D: 'done_recipient',
  '/': 'canceled_recipient',
  '>': 'redirect_to',
  W: 'warning_message_time',
  V: 'verp_delimiters',
  '<': 'dsn_return_flags',
  i: 'dsn_envelope_id',
  o: 'dsn_original_recipient',
  n: 'dsn_notify_flags',
  P: 'priority',
  p: 'pointer_record',
  K: 'killed_record',
  f: 'cleanup_flags',
  d: 'delay_time',
  m: 'milter_count',
  M: 'message_content',
  N: 'regular_text',
  w: 'padding',
  X: 'extracted_info',
  r: 'return_receipt',
  e: 'errors_to',
  E: 'message_end',
};

// Lengths above this are a damaged file or a hostile peer, never a record
// we wrote: line_length_limit cuts content lines far below it.
export const REC_MAX_LENGTH = 64 * 1024 * 1024;

export interface Rec {
  type: string;
  data: Buffer;
}

export function encodeRecord(type: string, data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const head: number[] = [type.charCodeAt(0)];
  let len = body.length;
  do {
    let byte = len & 0x7f;
    len = Math.floor(len / 128);
    if (len > 0) byte |= 0x80;
    head.push(byte);
  } while (len > 0);
  return Buffer.concat([Buffer.from(head), body]);
}

export class RecordError extends Error {}

// Incremental decoder: feed it bytes, take whole records out. Used on
// sockets (cleanup protocol) and on files read in chunks.
export class RecordReader {
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0;
  #offset = 0;

  push(chunk: Buffer): void {
    const rest = this.#buf.subarray(this.#pos);
    this.#buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    this.#pos = 0;
  }

  // File offset of the next record, counting every byte pushed so far.
  get offset(): number {
    return this.#offset;
  }

  // Drop count bytes of what is pending (taken by another decoder).
  consume(count: number): void {
    this.#pos += count;
    this.#offset += count;
  }

  // Bytes pushed but not yet taken as records.
  get pending(): Buffer {
    return this.#buf.subarray(this.#pos);
  }

  take(): Rec | null {
    const buf = this.#buf;
    let p = this.#pos;
    if (p >= buf.length) return null;
    const type = String.fromCharCode(buf[p++]);
    let len = 0;
    let shift = 1;
    for (;;) {
      if (p >= buf.length) return null;
      const byte = buf[p++];
      len += (byte & 0x7f) * shift;
      if ((byte & 0x80) === 0) break;
      shift *= 128;
      if (shift > 2 ** 35) throw new RecordError('bad record length');
    }
    if (len > REC_MAX_LENGTH) throw new RecordError(`record too long: ${len}`);
    if (p + len > buf.length) return null;
    const data = buf.subarray(p, p + len);
    this.#offset += p + len - this.#pos;
    this.#pos = p + len;
    return { type, data };
  }
}

// Decode a whole buffer; each record carries its file offset.
export function decodeRecords(buf: Buffer): Array<Rec & { offset: number }> {
  const reader = new RecordReader();
  reader.push(buf);
  const out: Array<Rec & { offset: number }> = [];
  for (;;) {
    const offset = reader.offset;
    const rec = reader.take();
    if (!rec) break;
    out.push({ ...rec, offset });
  }
  if (reader.pending.length) throw new RecordError('truncated record');
  return out;
}
