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
// rfc822 address, as Postfix's smtp sends it.
// XXX a non-ASCII address goes as rfc822 with its UTF-8 bytes in xtext;
// RFC 6533 and Postfix send it as utf-8 type in utf-8-addr-xtext.
export function orcptOf(dsnOrigRcpt: string, original: string) {
  if (dsnOrigRcpt) return dsnOrigRcpt;
  return original ? `rfc822;${externalize(original)}` : undefined;
}
