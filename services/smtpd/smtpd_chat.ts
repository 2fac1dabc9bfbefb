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
function clean(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, ' ');
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

export class SmtpdChat {
  #socket: Socket;
  #limits: ChatLimits;
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
      if (this.errorCount >= this.#limits.softErrorLimit)
        await sleep(this.#limits.errorSleepMs);
    }
    this.write(formatReply(r));
  }

  write(text: string): void {
    if (!this.#socket.destroyed && this.#socket.writable)
      this.#socket.write(text);
  }

  // After STARTTLS, replies go through the TLS socket; the error count
  // carries over, as it is the session's.
  useSocket(socket: Socket): void {
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
