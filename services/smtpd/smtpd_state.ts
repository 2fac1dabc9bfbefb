// The state of one SMTP session in smtpd: the named protocol states, the
// client's identity, the mail transaction being built and the per-command
// counters that the "disconnect from" line reports. Owned by
// smtpd_proto.ts; smtpd_check.ts reads it to decide and to log.

export const SESSION = {
  CONNECTED: 'connected', // greeted, no HELO or EHLO yet
  GREETED: 'greeted', // after HELO or EHLO, no transaction
  MAIL: 'mail', // MAIL accepted, no recipient yet
  RCPT: 'rcpt', // at least one recipient accepted
  BDAT: 'bdat', // between BDAT chunks of one message
  CLOSED: 'closed',
} as const;

export type SessionState = (typeof SESSION)[keyof typeof SESSION];

export interface Client {
  name: string; // verified reverse name, or 'unknown'
  addr: string;
  port: number;
}

export interface Recipient {
  address: string;
  orcpt: string; // DSN ORCPT, '' when not given
  notify: number; // DSN NOTIFY bits, 0 when not given
}

export interface Transaction {
  sender: string;
  size: number; // the MAIL SIZE= declaration, 0 when absent
  body: string; // BODY=, '' when absent
  smtputf8: boolean;
  envid: string;
  ret: string;
  recipients: Recipient[];
  hold?: boolean; // an access table said HOLD: cleanup puts it in hold/
  saved?: SavedActions; // other access actions for cleanup
}

// What access tables asked for the message, handed to cleanup before
// the content (Postfix's saved_filter, saved_redirect, saved_bcc,
// prepend and the DISCARD flag).
export interface SavedActions {
  discard: boolean;
  filter: string; // transport:destination, '' when none
  redirect: string; // the one recipient, '' when none
  bcc: string[];
  prepend: string[]; // header lines, in the order found
}

export function emptyActions(): SavedActions {
  return { discard: false, filter: '', redirect: '', bcc: [], prepend: [] };
}

// Command names as the disconnect line prints them, in Postfix's order.
export const COUNTED_COMMANDS = [
  'helo',
  'ehlo',
  'starttls',
  'auth',
  'mail',
  'rcpt',
  'data',
  'bdat',
  'rset',
  'noop',
  'vrfy',
  'etrn',
  'quit',
  'unknown',
] as const;

export class CommandStats {
  #ok = new Map<string, number>();
  #total = new Map<string, number>();

  count(name: string, ok: boolean): void {
    const key = (COUNTED_COMMANDS as readonly string[]).includes(name)
      ? name
      : 'unknown';
    this.#total.set(key, (this.#total.get(key) ?? 0) + 1);
    if (ok) this.#ok.set(key, (this.#ok.get(key) ?? 0) + 1);
  }

  // "ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4"
  format(): string {
    const fields: string[] = [];
    let ok = 0;
    let total = 0;
    for (const name of COUNTED_COMMANDS) {
      const t = this.#total.get(name) ?? 0;
      if (t === 0) continue;
      const o = this.#ok.get(name) ?? 0;
      fields.push(`${name}=${pair(o, t)}`);
      ok += o;
      total += t;
    }
    fields.push(`commands=${total === 0 ? '0/0' : pair(ok, total)}`);
    return fields.join(' ');
  }
}

function pair(ok: number, total: number): string {
  return ok === total ? String(total) : `${ok}/${total}`;
}

export function emptyTransaction(sender: string): Transaction {
  return {
    sender,
    size: 0,
    body: '',
    smtputf8: false,
    envid: '',
    ret: '',
    recipients: [],
  };
}

// A successful AUTH: the mechanism and the name the SASL server gave.
export interface SaslLogin {
  method: string;
  username: string;
}

// A finished TLS handshake, as the log and the Received: header tell it.
export interface TlsSession {
  summary: string; // "TLSv1.3 with cipher ... (256/256 bits) ..."
  // For the Received: header with smtpd_tls_received_header, else ''.
  receivedText: string; // "TLSv1.3 with cipher ... (256/256 bits)"
}

export class SmtpdState {
  state: SessionState = SESSION.CONNECTED;
  client: Client;
  helo = '';
  protocol = 'SMTP'; // ESMTP after EHLO
  where = 'CONNECT'; // the last command, for "lost connection after X"
  transaction: Transaction | null = null;
  queueId = ''; // set once cleanup is open for this transaction
  // 'local' when local_header_rewrite_clients matches the client: cleanup
  // then completes addresses and adds missing headers, as for sendmail.
  rewriteContext: 'local' | 'remote' = 'remote';
  // HOLD found before any MAIL (smtpd_delay_reject = no): every message
  // of the session goes to hold/.
  holdAll = false;
  // Likewise for the other actions: they apply to each message.
  sessionActions: SavedActions | null = null;
  junkCommands = 0;
  notes = new Set<string>();
  tls: TlsSession | null = null; // set once STARTTLS has succeeded
  sasl: SaslLogin | null = null; // set once AUTH has succeeded
  stats = new CommandStats();

  #portLogging: boolean;

  constructor(client: Client, portLogging = false) {
    this.client = client;
    this.#portLogging = portLogging;
  }

  // name[addr] as Postfix logs the client; name[addr]:port with
  // smtpd_client_port_logging.
  clientText(): string {
    const c = this.client;
    const port = this.#portLogging ? `:${c.port}` : '';
    return `${c.name}[${c.addr}]${port}`;
  }

  get inTransaction(): boolean {
    return this.transaction !== null;
  }

  // HELO, EHLO, RSET and a finished message end the transaction.
  resetTransaction(): void {
    this.transaction = null;
    this.queueId = '';
    if (this.state === SESSION.CLOSED) return;
    this.state = this.helo ? SESSION.GREETED : SESSION.CONNECTED;
  }
}
