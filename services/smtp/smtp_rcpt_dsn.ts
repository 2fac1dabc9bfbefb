// Each recipient's own DSN parameters (RFC 3461 NOTIFY and ORCPT) on
// nodemailer's SMTPConnection, which builds every RCPT TO from one
// envelope.dsn. Used by smtp_session.ts for smtp and lmtp. Limits: rests
// on a private method of nodemailer (the XXX below); smtp_rcpt_dsn_test.ts
// fails when an upgrade of nodemailer changes it.

import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { externalize } from '../../packages/address/address';
import { msg } from '../../packages/log/log';

export interface RcptDsn {
  notify?: string; // "SUCCESS,DELAY", "NEVER"
  orcpt?: string; // "rfc822;addr", before xtext encoding
}

export type RcptDsnTable = ReadonlyMap<string, RcptDsn>;

interface DsnEnvelope {
  dsn?: { notify?: string | null; orcpt?: string | null } | null;
}

type SendRcpt = (this: Internals, recipient: string, cb: unknown) => void;

interface Internals {
  _envelope?: DsnEnvelope;
  _sendRcpt: SendRcpt;
  _getDsnRcptToArgs?: () => string;
}

// XXX nodemailer 10.6 has no per-recipient DSN option: we replace its
// private _sendRcpt(recipient, callback), which builds one RCPT TO from
// this._envelope.dsn, with one that first puts that recipient's NOTIFY
// and ORCPT there. nodemailer still checks that the peer offered DSN and
// xtext-encodes the values.
const PROTO = SMTPConnection.prototype as unknown as Internals;
const ORIGINAL: SendRcpt | undefined = PROTO._sendRcpt;
export const RCPT_DSN_SUPPORTED =
  typeof ORIGINAL === 'function' &&
  ORIGINAL.length === 2 &&
  typeof PROTO._getDsnRcptToArgs === 'function';

const TABLES = new WeakMap<object, RcptDsnTable>();
let warned = false;

function sendRcptWithOwnDsn(
  this: Internals,
  recipient: string,
  cb: unknown,
): void {
  const own = TABLES.get(this)?.get(recipient);
  const dsn = this._envelope?.dsn;
  if (dsn) {
    dsn.notify = own?.notify ?? null;
    dsn.orcpt = own?.orcpt ?? null;
  }
  ORIGINAL!.call(this, recipient, cb);
}

// Makes the next send on conn give each recipient its entry of table;
// the send's envelope must then carry a dsn object (maybe empty).
export function useRcptDsn(conn: SMTPConnection, table: RcptDsnTable): void {
  if (!RCPT_DSN_SUPPORTED) {
    if (!warned)
      msg.warn(
        'useRcptDsn: nodemailer has changed: no NOTIFY or ORCPT is sent',
      );
    warned = true;
    return;
  }
  const internals = conn as unknown as Internals;
  TABLES.set(conn, table);
  if (internals._sendRcpt !== sendRcptWithOwnDsn)
    internals._sendRcpt = sendRcptWithOwnDsn;
}

// Postfix's notify bits: NEVER 1, SUCCESS 2, FAILURE 4, DELAY 8.
export function notifyKeyword(flags: number): string | undefined {
  if (flags & 1) return 'NEVER';
  const words: string[] = [];
  if (flags & 2) words.push('SUCCESS');
  if (flags & 4) words.push('FAILURE');
  if (flags & 8) words.push('DELAY');
  return words.length ? words.join(',') : undefined;
}

// The ORCPT the message came with, else the original recipient as an
// rfc822 address, as Postfix's smtp sends it. An address with non-ASCII
// characters goes as RFC 6533's utf-8 type, in its 7-bit form
// (utf-8-addr-xtext), which is valid with or without SMTPUTF8; a utf-8
// ORCPT that a client sent in either form is rewritten in that one.
export function orcptOf(
  dsnOrigRcpt: string,
  original: string,
): string | undefined {
  if (dsnOrigRcpt) {
    const semi = dsnOrigRcpt.indexOf(';');
    if (semi < 0) return dsnOrigRcpt;
    const type = dsnOrigRcpt.slice(0, semi).toLowerCase();
    const value = dsnOrigRcpt.slice(semi + 1);
    if (type === 'utf-8')
      return `utf-8;${utf8AddrXtext(decodeEmbedded(value))}`;
    if (type === 'rfc822' && !ASCII.test(value))
      return `utf-8;${utf8AddrXtext(value)}`;
    return dsnOrigRcpt;
  }
  if (!original) return undefined;
  const addr = externalize(original);
  return ASCII.test(addr) ? `rfc822;${addr}` : `utf-8;${utf8AddrXtext(addr)}`;
}

const ASCII = /^[\x00-\x7f]*$/;

// RFC 6533's utf-8-addr-xtext: printable ASCII stays, but for "+", "="
// and "\"; those, space, controls and every non-ASCII character become
// \x{HEX}. nodemailer then xtext-encodes the value, which leaves such a
// string as it is.
export function utf8AddrXtext(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    const plain = cp > 0x20 && cp < 0x7f && ch !== '+' && ch !== '=';
    out += plain && ch !== '\\' ? ch : `\\x{${cp.toString(16).toUpperCase()}}`;
  }
  return out;
}

// \x{HEX} back to its character: a utf-8 ORCPT as a client sent it, in
// the 7-bit form or with UTF-8 itself (utf-8-addr-unitext).
function decodeEmbedded(text: string): string {
  return text.replace(/\\x\{([0-9A-Fa-f]{1,6})\}/g, (all, hex: string) => {
    const cp = parseInt(hex, 16);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : all;
  });
}
