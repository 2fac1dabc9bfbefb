// The DATA and BDAT content transforms of smtpd: raw client bytes in,
// content lines out (no line ends, cut at line_length_limit) as cleanup's
// N and L records want them. DataDecoder ends DATA only at
// <CR><LF>.<CR><LF> (CVE-2023-51764) unless bare <LF> may end it; BDAT
// needs no end line: its byte counts say where a chunk ends.

export const LINE_END = {
  CRLF: 'crlf',
  LF: 'lf', // a bare <LF>
  PARTIAL: 'partial', // a piece of a line longer than the limit
  NONE: 'none', // the last bytes of a BDAT message, with no line end
} as const;

export type LineEnd = (typeof LINE_END)[keyof typeof LINE_END];

export interface ContentLine {
  data: Buffer;
  end: LineEnd;
}

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;

// Splits bytes into lines. A bare <LF> ends a line too (that is how
// Postfix's normalize mode reads it); the caller decides what it means.
export class LineSplitter {
  #parts: Buffer[] = [];
  #length = 0;
  #limit: number;
  #midLine = false; // a piece of the current line was already emitted

  constructor(lineLimit: number) {
    this.#limit = Math.max(lineLimit, 2);
  }

  get midLine(): boolean {
    return this.#midLine;
  }

  // Calls emit for each line or piece; emit returns false to stop, and
  // split then returns how many bytes of chunk it used.
  split(chunk: Buffer, emit: (line: ContentLine) => boolean): number {
    let start = 0;
    for (;;) {
      const lf = chunk.indexOf(LF, start);
      if (lf < 0) {
        this.#keep(chunk.subarray(start), emit);
        return chunk.length;
      }
      const line = this.#take(chunk.subarray(start, lf), emit);
      start = lf + 1;
      if (!emit(line)) return start;
    }
  }

  // The bytes after the last line end, as a line without one.
  flush(): ContentLine | null {
    if (this.#length === 0 && !this.#midLine) return null;
    const data = Buffer.concat(this.#parts, this.#length);
    this.#reset();
    return { data, end: LINE_END.NONE };
  }

  // The line that tail ends; pieces over the limit go to emit first.
  #take(tail: Buffer, emit: (line: ContentLine) => boolean): ContentLine {
    // Most lines sit whole in one chunk: no copy for them.
    const whole =
      this.#parts.length === 0 ? tail : Buffer.concat([...this.#parts, tail]);
    this.#reset();
    const crlf = whole.length > 0 && whole[whole.length - 1] === CR;
    let data = crlf ? whole.subarray(0, whole.length - 1) : whole;
    while (data.length > this.#limit) {
      emit({ data: data.subarray(0, this.#limit), end: LINE_END.PARTIAL });
      data = data.subarray(this.#limit);
    }
    return { data, end: crlf ? LINE_END.CRLF : LINE_END.LF };
  }

  // Keep an unfinished line, emitting pieces once it outgrows the limit.
  // One byte more than the limit stays behind, so that a <CR> that may
  // begin the line end is never cut from its <LF>.
  #keep(bytes: Buffer, emit: (line: ContentLine) => boolean): void {
    this.#parts.push(bytes);
    this.#length += bytes.length;
    while (this.#length > this.#limit + 1) {
      const whole = Buffer.concat(this.#parts, this.#length);
      this.#parts = [whole.subarray(this.#limit)];
      this.#length = whole.length - this.#limit;
      emit({ data: whole.subarray(0, this.#limit), end: LINE_END.PARTIAL });
      this.#midLine = true;
    }
  }

  #reset(): void {
    this.#parts = [];
    this.#length = 0;
    this.#midLine = false;
  }
}

export interface DecodeResult {
  lines: ContentLine[];
  done: boolean; // the end-of-data line was seen
  rest: Buffer; // bytes after the end-of-data line: the next commands
}

// DATA content: dot-stuffed text ended by a line holding one dot.
export class DataDecoder {
  #splitter: LineSplitter;
  #lfEndsData: boolean;
  #lastEnd: LineEnd = LINE_END.CRLF; // the DATA command's own line end
  #startOfLine = true;
  bareLf = 0;
  bytes = 0;

  // lfEndsData is smtpd_forbid_bare_newline=no (or an excluded client):
  // a bare <LF> then counts as <CR><LF>, as in Postfix before 3.9.
  constructor(lineLimit: number, lfEndsData: boolean) {
    this.#splitter = new LineSplitter(lineLimit);
    this.#lfEndsData = lfEndsData;
  }

  push(chunk: Buffer): DecodeResult {
    const lines: ContentLine[] = [];
    let done = false;
    const used = this.#splitter.split(chunk, (line) => {
      done = this.#isEnd(line);
      if (!done) lines.push(this.#unstuff(line));
      return !done;
    });
    return { lines, done, rest: chunk.subarray(used) };
  }

  // <CR><LF>.<CR><LF>: a dot line ended by <CR><LF> after a line that
  // was also ended by <CR><LF>. Anything else is content.
  #isEnd(line: ContentLine): boolean {
    const before = this.#lastEnd;
    this.#lastEnd = line.end;
    if (line.end === LINE_END.PARTIAL) return false;
    if (line.data.length !== 1 || line.data[0] !== DOT) return false;
    if (!this.#startOfLine) return false;
    if (this.#lfEndsData) return true;
    return line.end === LINE_END.CRLF && before === LINE_END.CRLF;
  }

  #unstuff(line: ContentLine): ContentLine {
    const atStart = this.#startOfLine;
    this.#startOfLine = line.end !== LINE_END.PARTIAL;
    if (line.end === LINE_END.LF) this.bareLf += 1;
    this.bytes += line.data.length + (line.end === LINE_END.PARTIAL ? 0 : 2);
    if (atStart && line.data.length > 0 && line.data[0] === DOT)
      return { data: line.data.subarray(1), end: line.end };
    return line;
  }
}

// BDAT content (RFC 3030): exact byte counts, no dot-stuffing, no end
// line. Lines may run across chunks; finish() yields the last bytes.
export class BdatDecoder {
  #splitter: LineSplitter;
  bareLf = 0;
  bytes = 0;

  constructor(lineLimit: number) {
    this.#splitter = new LineSplitter(lineLimit);
  }

  push(chunk: Buffer): ContentLine[] {
    const lines: ContentLine[] = [];
    this.bytes += chunk.length;
    this.#splitter.split(chunk, (line) => {
      if (line.end === LINE_END.LF) this.bareLf += 1;
      lines.push(line);
      return true;
    });
    return lines;
  }

  finish(): ContentLine | null {
    return this.#splitter.flush();
  }
}
