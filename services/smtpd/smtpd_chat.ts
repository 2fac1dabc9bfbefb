// SMTP replies for smtpd: every reply is built here by one helper from a
// code, an enhanced status code and a text, and written by SmtpdChat,
// which also counts errors and applies the soft error limit's delay.
// Used by smtpd_proto.ts and smtpd_check.ts.

import type { Socket } from 'node:net';

export interface Reply {
  code: number;
  dsn: string; // enhanced status code, '' when the reply has none
  text: string;
}

// The first digit of the enhanced code must equal the reply class, as
// Postfix forces it (RFC 3463 section 3.1): 504 with 4.5.2 becomes 5.5.2.
export function reply(code: number, dsn: string, text: string): Reply {
  const klass = String(code).charAt(0);
  const fixed = dsn && /^[245]\./.test(dsn) ? klass + dsn.slice(1) : dsn;
  return { code, dsn: fixed, text };
}

export function isError(r: Reply): boolean {
  return r.code >= 400;
}

// Control characters from client text must not split a reply line.
const CONTROL = /[\x00-\x1f\x7f]/;
const CONTROLS = /[\x00-\x1f\x7f]/g;

function clean(text: string): string {
  return CONTROL.test(text) ? text.replace(CONTROLS, ' ') : text;
}

export function formatReply(r: Reply): string {
  const head = r.dsn ? `${r.code} ${r.dsn} ` : `${r.code} `;
  return `${head}${clean(r.text)}`.trimEnd() + '\r\n';
}

// The EHLO reply: one code, several lines, no enhanced code.
export function formatMultiline(code: number, lines: string[]): string {
  return lines
    .map((line, i) => {
      const sep = i === lines.length - 1 ? ' ' : '-';
      return `${code}${sep}${clean(line)}\r\n`;
    })
    .join('');
}

// The text of a reply as it appears in a log line (no line end).
export function replyText(r: Reply): string {
  return formatReply(r).slice(0, -2);
}

export interface ChatLimits {
  softErrorLimit: number;
  errorSleepMs: number;
}

// Replies held for one write: past this many bytes they go at once, so
// that a client that pipelines without reading meets backpressure.
const HOLD_BYTES = 4096;

// Replies are held until smtpd is about to wait for the client (flush()
// from SmtpdInput) or the session ends: as Postfix's smtpd, the replies
// to pipelined commands (RFC 2920) go out in one write.
export class SmtpdChat {
  #socket: Socket;
  #limits: ChatLimits;
  #held = '';
  errorCount = 0;

  constructor(socket: Socket, limits: ChatLimits) {
    this.#socket = socket;
    this.#limits = limits;
  }

  // Postfix counts every 4xx and 5xx reply and, past the soft limit,
  // sleeps before sending one, to slow down clients that probe us.
  async send(r: Reply): Promise<void> {
    if (isError(r)) {
      this.errorCount += 1;
      if (this.errorCount >= this.#limits.softErrorLimit) {
        this.flush();
        await sleep(this.#limits.errorSleepMs);
      }
    }
    this.write(formatReply(r));
  }

  write(text: string): void {
    this.#held += text;
    if (this.#held.length >= HOLD_BYTES) this.flush();
  }

  flush(): void {
    const text = this.#held;
    if (!text) return;
    this.#held = '';
    if (!this.#socket.destroyed && this.#socket.writable)
      this.#socket.write(text);
  }

  // After STARTTLS, replies go through the TLS socket; the error count
  // carries over, as it is the session's.
  useSocket(socket: Socket): void {
    this.flush();
    this.#socket = socket;
  }

  resetErrors(): void {
    this.errorCount = 0;
  }
}

function sleep(ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
