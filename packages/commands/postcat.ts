#!/usr/bin/env node
// postcat(1): show the records of queue files as Postfix's postcat does
// (envelope, headers, body, the *** markers, -o offsets, -d types, -v
// raw records), from files, standard input, or queue IDs with -q. Used
// by people and tests. Limits: no 3.12 -r, -s and -f options.

import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { initLog, msg } from '../log/log';
import { Config, ConfigError } from '../config/config';
import { queuePath, QUEUE } from '../queue/mail_queue';
import { REC, REC_NAMES, REC_MAX_LENGTH } from '../queue/record';

const USAGE =
  'usage: postcat [-b (body text)] [-c config_dir] [-d (decimal record ' +
  'type)] [-e (envelope records)] [-h (header text)] [-o (offsets)] ' +
  '[-q (access queue)] [-v] [file(s)...]';

const OPTIONS = {
  b: { type: 'boolean', short: 'b' },
  c: { type: 'string', short: 'c' },
  d: { type: 'boolean', short: 'd' },
  e: { type: 'boolean', short: 'e' },
  h: { type: 'boolean', short: 'h' },
  o: { type: 'boolean', short: 'o' },
  q: { type: 'boolean', short: 'q' },
  v: { type: 'boolean', short: 'v', multiple: true },
} as const;

// The queues -q searches, in Postfix's order.
const SEARCH_QUEUES = [
  QUEUE.MAILDROP,
  QUEUE.INCOMING,
  QUEUE.ACTIVE,
  QUEUE.DEFERRED,
  QUEUE.HOLD,
  QUEUE.SAVED,
];

// Record types that may start a queue file (Postfix's envelope set).
const ENVELOPE_TYPES = 'MCTcFILSDRO/WVA>K<ion';
const MAX_POINTER_JUMPS = 10_000;

interface Options {
  env: boolean;
  header: boolean;
  body: boolean;
  offsets: boolean;
  decimal: boolean;
  verbose: boolean;
}

const STATE = { ENV: 'env', HEADER: 'header', BODY: 'body' } as const;
type State = (typeof STATE)[keyof typeof STATE];

// Bytes of one input, read at any offset so that pointer records can be
// followed: a file by position, standard input from memory.
interface Source {
  name: string;
  readAt(position: number, length: number): Buffer;
}

function fileSource(name: string, fd: number): Source {
  return {
    name,
    readAt(position, length) {
      const buf = Buffer.alloc(length);
      const got = fs.readSync(fd, buf, 0, length, position);
      return buf.subarray(0, got);
    },
  };
}

function bufferSource(name: string, data: Buffer): Source {
  return {
    name,
    readAt: (position, length) => data.subarray(position, position + length),
  };
}

interface RawRecord {
  type: string;
  code: number;
  data: Buffer;
  offset: number;
  next: number;
}

// One record at offset; null at a clean end of input.
function readRecord(src: Source, offset: number): RawRecord | null {
  const head = src.readAt(offset, 6);
  if (head.length === 0) return null;
  let len = 0;
  let shift = 1;
  let p = 1;
  for (; ; p++) {
    if (p >= head.length || shift > 2 ** 35) msg.fatal('record read error');
    len += (head[p] & 0x7f) * shift;
    if ((head[p] & 0x80) === 0) break;
    shift *= 128;
  }
  if (len > REC_MAX_LENGTH) msg.fatal('record read error');
  const data = src.readAt(offset + p + 1, len);
  if (data.length < len) msg.fatal('record read error');
  const type = String.fromCharCode(head[0]);
  return { type, code: head[0], data, offset, next: offset + p + 1 + len };
}

function asctime(seconds: number): string {
  const d = new Date(seconds * 1000);
  const day = String(d.getDate()).padStart(2, ' ');
  const two = (n: number) => String(n).padStart(2, '0');
  const week = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');
  return (
    `${week[d.getDay()]} ${months[d.getMonth()]} ${day} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ` +
    `${d.getFullYear()}`
  );
}

const HEADER_START = /^[\x21-\x39\x3b-\x7e]+[ \t]*:/;

function recordName(type: string): string {
  return REC_NAMES[type] ?? 'unknown';
}

// Output is collected as bytes (content may be any 8-bit text) and
// written in large pieces.
class Output {
  #chunks: Buffer[] = [];
  #bytes = 0;

  put(data: Buffer | string): void {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    this.#chunks.push(buf);
    this.#bytes += buf.length;
    if (this.#bytes > 64 * 1024) this.flush();
  }

  flush(): void {
    if (this.#bytes === 0) return;
    fs.writeSync(1, Buffer.concat(this.#chunks));
    this.#chunks = [];
    this.#bytes = 0;
  }
}

function strerror(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const known: Record<string, string> = {
    ENOENT: 'No such file or directory',
    EACCES: 'Permission denied',
    EISDIR: 'Is a directory',
    ENOTDIR: 'Not a directory',
  };
  return known[code] ?? (code || String(err));
}

// Postfix's attribute split: name before "=", white space trimmed.
function splitAttr(text: string): [string, string] | string {
  const eq = text.indexOf('=');
  if (eq < 0) return "missing '=' after attribute name";
  const name = text.slice(0, eq).trim();
  if (!name) return 'missing attribute name';
  return [name, text.slice(eq + 1).trim()];
}

// One input, read as Postfix's postcat reads it: a state machine over
// envelope, primary header and body, printing what the flags ask for.
class FileDump {
  #opts: Options;
  #src: Source;
  #out: Output;
  #state: State = STATE.ENV;
  #doPrint: boolean;
  #prevType = '';
  #sizeSeen = false;
  #dataOffset = -1;
  #pos = 0;
  #jumps = 0;
  #done = false;

  constructor(opts: Options, src: Source, out: Output) {
    this.#opts = opts;
    this.#src = src;
    this.#out = out;
    this.#doPrint = opts.env;
  }

  run(): void {
    const first = this.#src.readAt(0, 1);
    if (first.length && !ENVELOPE_TYPES.includes(String.fromCharCode(first[0])))
      return msg.warn(`${this.#src.name}: input is not a valid queue file`);
    if (this.#opts.env)
      this.#out.put(`*** ENVELOPE RECORDS ${this.#src.name} ***\n`);
    while (!this.#done) {
      const rec = readRecord(this.#src, this.#pos);
      if (!rec) break;
      this.#pos = rec.next;
      this.#onRecord(rec);
    }
    this.#out.flush();
  }

  #prefix(rec: RawRecord): void {
    if (this.#opts.offsets) this.#out.put(`${String(rec.offset).padStart(9)} `);
    if (this.#opts.decimal) this.#out.put(`${String(rec.code).padStart(3)} `);
  }

  #marker(rec: RawRecord, text: string): void {
    if (!this.#opts.env) return;
    this.#prefix(rec);
    this.#out.put(`*** ${text} ${this.#src.name} ***\n`);
  }

  #onRecord(rec: RawRecord): void {
    const structural = STRUCTURAL[rec.type];
    if (structural) return structural(this, rec);
    if (rec.type === REC.PADDING && !this.#opts.verbose) return;
    if (rec.type === REC.NORM || rec.type === REC.CONT) this.#checkBody(rec);
    if (this.#doPrint) this.#print(rec);
  }

  // The first line that is neither a header nor a continuation ends the
  // primary header, unless it continues a line cut into L pieces.
  #checkBody(rec: RawRecord): void {
    if (this.#state !== STATE.HEADER) return;
    if (!this.#opts.header && !this.#opts.body) return;
    if (this.#prevType === REC.CONT) return;
    const text = rec.data.toString('latin1');
    if (HEADER_START.test(text) || text[0] === ' ' || text[0] === '\t') return;
    this.#state = STATE.BODY;
    this.#doPrint = this.#opts.body;
    if (!this.#doPrint && !this.#opts.env) this.#done = true;
  }

  onMessage(rec: RawRecord): void {
    if (this.#state !== STATE.ENV)
      msg.warn(`${this.#src.name}: out-of-order message content marker`);
    this.#marker(rec, 'MESSAGE CONTENTS');
    this.#state = STATE.HEADER;
    this.#doPrint = this.#opts.header;
  }

  onExtracted(rec: RawRecord): void {
    if (this.#state === STATE.ENV)
      msg.warn(`${this.#src.name}: out-of-order extracted segment marker`);
    if (this.#doPrint && this.#prevType === REC.CONT) this.#out.put('\n');
    this.#marker(rec, 'HEADER EXTRACTED');
    this.#state = STATE.ENV;
    this.#doPrint = this.#opts.env;
    if (!this.#doPrint) this.#done = true;
  }

  onEnd(rec: RawRecord): void {
    if (this.#state !== STATE.ENV)
      msg.warn(`${this.#src.name}: out-of-order message end marker`);
    this.#marker(rec, 'MESSAGE FILE END');
    this.#done = true;
  }

  // Pointer records chain parts of a file; 0 is an unused placeholder.
  onPointer(rec: RawRecord): void {
    if (this.#doPrint && this.#opts.verbose) this.#printDefault(rec);
    const target = Number(rec.data.toString().trim());
    if (!Number.isInteger(target) || target < 0)
      msg.fatal('bad pointer record, or input is not seekable');
    if (target === 0) return;
    if (++this.#jumps > MAX_POINTER_JUMPS) msg.fatal('pointer record loop');
    this.#pos = target;
  }

  // Without -e the envelope is skipped: go straight to the content.
  onSize(rec: RawRecord): void {
    if (this.#doPrint) this.#printDefault(rec);
    if (this.#sizeSeen) return msg.warn('file contains multiple size records');
    this.#sizeSeen = true;
    const [size, offset] = rec.data.toString().trim().split(/\s+/).map(Number);
    if (!(size > 0) || !(offset > 0))
      msg.fatal(`invalid size record: ${rec.data.toString().slice(0, 100)}`);
    this.#dataOffset = offset;
    if (this.#opts.env) return;
    this.#pos = this.#dataOffset;
    this.#state = STATE.HEADER;
    this.#doPrint = this.#opts.header;
  }

  #printDefault(rec: RawRecord): void {
    this.#prefix(rec);
    this.#out.put(`${recordName(rec.type)}: `);
    this.#out.put(rec.data);
    this.#out.put('\n');
  }

  #print(rec: RawRecord): void {
    const printer = PRINTERS[rec.type];
    if (!printer) {
      this.#printDefault(rec);
      this.#prevType = rec.type;
      return;
    }
    this.#prefix(rec);
    this.#prevType = printer(this, rec) ?? rec.type;
  }

  printTime(rec: RawRecord): void {
    const sec = Number(rec.data.toString().trim().split(/\s+/)[0]);
    this.#out.put(`${recordName(rec.type)}: ${asctime(sec)}\n`);
  }

  // L is a content filter in the envelope and a cut line in content;
  // a cut line is printed without its end unless -v or -o asks.
  printCont(rec: RawRecord): string | undefined {
    const envelope = this.#state === STATE.ENV;
    if (envelope) this.#out.put(`${recordName(rec.type)}: `);
    else if (this.#opts.verbose) this.#out.put('unterminated_text: ');
    this.#out.put(rec.data);
    if (!envelope && !this.#opts.verbose && !this.#opts.offsets) return;
    this.#out.put('\n');
    return '';
  }

  printNorm(rec: RawRecord): void {
    if (this.#opts.verbose) this.#out.put(`${recordName(rec.type)}: `);
    this.#out.put(rec.data);
    this.#out.put('\n');
  }

  printPadding(rec: RawRecord): void {
    this.#out.put('padding: ');
    this.#out.put(rec.data);
    this.#out.put('\n');
  }

  printAttr(rec: RawRecord): void {
    const text = rec.data.toString();
    const split = splitAttr(text);
    if (typeof split === 'string')
      return msg.warn(
        `${this.#src.name}: malformed attribute: ${split}: ${text.slice(0, 100)}`,
      );
    const [name, value] = split;
    if (name === 'create_time')
      return this.#out.put(`create_time: ${asctime(Number(value))}\n`);
    this.#out.put(`${recordName(rec.type)}: ${name}=${value}\n`);
  }
}

type Structural = (dump: FileDump, rec: RawRecord) => void;

const STRUCTURAL: Record<string, Structural> = {
  [REC.MESG]: (d, r) => d.onMessage(r),
  [REC.XTRA]: (d, r) => d.onExtracted(r),
  [REC.END]: (d, r) => d.onEnd(r),
  [REC.PTR]: (d, r) => d.onPointer(r),
  [REC.SIZE]: (d, r) => d.onSize(r),
};

type Printer = (dump: FileDump, rec: RawRecord) => string | undefined | void;

const PRINTERS: Record<string, Printer> = {
  [REC.TIME]: (d, r) => d.printTime(r),
  [REC.WARN]: (d, r) => d.printTime(r),
  [REC.CONT]: (d, r) => d.printCont(r),
  [REC.NORM]: (d, r) => d.printNorm(r),
  [REC.PADDING]: (d, r) => d.printPadding(r),
  [REC.ATTR]: (d, r) => d.printAttr(r),
};

function parseFlags(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  } catch {
    return msg.fatal(USAGE);
  }
}

function optionsFrom(values: ReturnType<typeof parseFlags>['values']): Options {
  const any = values.e || values.h || values.b;
  return {
    env: Boolean(values.e || !any),
    header: Boolean(values.h || !any),
    body: Boolean(values.b || !any),
    offsets: Boolean(values.o),
    decimal: Boolean(values.d),
    verbose: (values.v?.length ?? 0) > 0,
  };
}

function loadConfig(configDir: string | undefined): Config {
  try {
    return Config.load({ configDir, processName: 'postcat' });
  } catch (err) {
    if (err instanceof ConfigError) return msg.fatal(err.message);
    throw err;
  }
}

function dumpPath(opts: Options, name: string, out: Output): void {
  let fd: number;
  try {
    fd = fs.openSync(name, 'r');
  } catch (err) {
    return msg.fatal(`open ${name}: ${strerror(err)}`);
  }
  try {
    new FileDump(opts, fileSource(name, fd), out).run();
  } finally {
    fs.closeSync(fd);
  }
}

// Postfix's mail_queue_id_ok: letters, digits and "_" only, so that an
// ID can never name a path outside the queue.
function isQueueIdOk(id: string): boolean {
  return /^[A-Za-z0-9_]{1,100}$/.test(id);
}

function findQueueFile(config: Config, id: string): string {
  if (!isQueueIdOk(id)) msg.fatal(`bad mail queue ID: ${id}`);
  let lastError: unknown;
  for (const queue of SEARCH_QUEUES) {
    const where = queuePath('', queue, id, config);
    try {
      fs.accessSync(where, fs.constants.R_OK);
      return where;
    } catch (err) {
      lastError = err;
    }
  }
  return msg.fatal(`open queue file ${id}: ${strerror(lastError)}`);
}

function dumpQueueIds(
  config: Config,
  opts: Options,
  ids: string[],
  out: Output,
): void {
  const queueDir = config.get('queue_directory');
  try {
    process.chdir(queueDir);
  } catch (err) {
    msg.fatal(`chdir ${queueDir}: ${strerror(err)}`);
  }
  for (const id of ids) dumpPath(opts, findQueueFile(config, id), out);
}

function run(argv: string[]): void {
  const { values, positionals } = parseFlags(argv);
  const opts = optionsFrom(values);
  const config = loadConfig(values.c);
  const out = new Output();
  if (positionals.length === 0) {
    new FileDump(opts, bufferSource('stdin', fs.readFileSync(0)), out).run();
  } else if (values.q) {
    dumpQueueIds(config, opts, positionals, out);
  } else {
    for (const name of positionals) dumpPath(opts, name, out);
  }
  out.flush();
}

function main(): void {
  initLog({ processName: 'postcat', stderr: 'postcat' });
  run(process.argv.slice(2));
}

main();
