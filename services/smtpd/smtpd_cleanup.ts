// How smtpd hands a message to cleanup: opened at the first accepted
// recipient, envelope records in INTERNALS.md's order, access-table
// actions as records at DATA (as Postfix's smtpd), content lines streamed
// with backpressure, cleanup's status turned into the SMTP reply. Used by
// smtpd_proto.ts. cleanup, not smtpd, writes the Received: header.

import {
  CleanupClient,
  CLEANUP_FLAG,
  CLEANUP_STAT,
  cleanupStatusReply,
} from '../../packages/ipc/cleanup_client';
import { REC } from '../../packages/queue/record';
import { TLS_RECEIVED_ATTR } from '../../packages/tls/tls_policy';
import { msg } from '../../packages/log/log';
import { Config } from '../../packages/config/config';
import { cleanupFlags } from '../cleanup/cleanup_input_transp';
import { Reply, reply } from './smtpd_chat';
import { ContentLine, LINE_END } from './smtpd_data';
import { Recipient, SavedActions, SmtpdState } from './smtpd_state';
import { DSN_NOTIFY, DSN_RET } from '../../packages/queue/dsn_mask';

// What smtpd asks of cleanup: header/body checks, BCC and address maps.
// Not BOUNCE: a message cleanup refuses is answered with an SMTP reject
// while the client waits, not bounced later (that flag is pickup's).
const SMTPD_FLAGS =
  CLEANUP_FLAG.FILTER | CLEANUP_FLAG.BCC_OK | CLEANUP_FLAG.MAP_OK;

export class MessageWriter {
  #client: CleanupClient;
  #broken = ''; // why writing to cleanup failed, '' while it works

  private constructor(client: CleanupClient) {
    this.#client = client;
  }

  get queueId(): string {
    return this.#client.queueId;
  }

  // T, the A attributes, then S (RFC 5321 null sender as an empty S).
  // receive_override_options takes away what it names.
  static async open(
    queueDir: string,
    state: SmtpdState,
    config: Config,
  ): Promise<MessageWriter> {
    const t = state.transaction;
    if (!t) throw new Error('MessageWriter.open: no transaction');
    const flags =
      cleanupFlags(config, SMTPD_FLAGS) |
      (t.smtputf8 ? CLEANUP_FLAG.SMTPUTF8 : 0) |
      (t.hold || state.holdAll ? CLEANUP_FLAG.HOLD : 0);
    // Kept connections: under load a connect costs more than the rest
    // of the hand-over.
    const client = await CleanupClient.open(queueDir, flags, true);
    const writer = new MessageWriter(client);
    await client.records(envelopeRecords(state, config));
    return writer;
  }

  async addRecipient(r: Recipient): Promise<void> {
    const list: Array<[string, string]> = [];
    if (r.notify) list.push([REC.DSN_NOTIFY, String(r.notify)]);
    if (r.orcpt) list.push([REC.DSN_ORCPT, r.orcpt]);
    list.push([REC.ORCP, r.address], [REC.RCPT, r.address]);
    await this.#client.records(list);
  }

  // Actions found at any RCPT are known only now, so they go as
  // records rather than as the flags sent when cleanup was opened.
  // XXX Postfix's smtpd writes PREPEND headers above its own Received:;
  // here cleanup writes Received: when it reads M, so they come just
  // below it (header_checks still see them, as in Postfix).
  async beginContent(state: SmtpdState): Promise<void> {
    const saved = mergedActions(state);
    const late = state.transaction?.hold ? CLEANUP_FLAG.HOLD : 0;
    await this.#client.records([
      ...actionRecords(saved, late),
      [REC.MESG, ''],
      ...saved.prepend.map((h): [string, string] => [REC.NORM, h]),
    ]);
  }

  // A cleanup that went away mid-message must not end the session: the
  // client still sends to the end of data and then hears 451.
  async writeLine(line: ContentLine): Promise<void> {
    if (this.#broken) return;
    const type = line.end === LINE_END.PARTIAL ? REC.CONT : REC.NORM;
    try {
      if (!this.#client.record(type, line.data)) await this.#client.drain();
    } catch (err) {
      this.#broken = err instanceof Error ? err.message : String(err);
      msg.warn(`${this.queueId}: smtpd: write to cleanup: ${this.#broken}`);
    }
  }

  // X and E, then cleanup's verdict as the SMTP reply.
  async finish(): Promise<{ ok: boolean; reply: Reply }> {
    if (this.#broken) {
      this.abort();
      return { ok: false, reply: statusReply(CLEANUP_STAT.WRITE, '') };
    }
    this.#client.record(REC.XTRA);
    const result = await this.#client.finish(true);
    if (result.status === 0)
      return {
        ok: true,
        reply: reply(250, '2.0.0', `Ok: queued as ${this.queueId}`),
      };
    return { ok: false, reply: statusReply(result.status, result.reason) };
  }

  abort(): void {
    this.#client.abort();
  }
}

// Postfix's cleanup_strerror, with cleanup's own reason where it gave one
// for rejected content (header_checks text).
export function statusReply(status: number, reason: string): Reply {
  const base = cleanupStatusReply(status) ?? {
    code: 451,
    dsn: '4.3.0',
    text: 'queue file write error',
  };
  const useReason = base.code === 550 && base.dsn === '5.7.1' && reason;
  return reply(base.code, base.dsn, useReason ? reason : `Error: ${base.text}`);
}

// RFC 3848: ESMTP with S inside TLS and A after AUTH, the names
// Received: shows.
function protocolName(state: SmtpdState): string {
  if (state.protocol !== 'ESMTP') return state.protocol;
  return `ESMTP${state.tls ? 'S' : ''}${state.sasl ? 'A' : ''}`;
}

function envelopeRecords(
  state: SmtpdState,
  config: Config,
): Array<[string, string]> {
  const t = state.transaction!;
  const now = Date.now();
  const usec = String((now % 1000) * 1000);
  const c = state.client;
  const list: Array<[string, string]> = [
    [REC.TIME, `${Math.floor(now / 1000)} ${usec}`],
    [REC.ATTR, `log_client_name=${c.name}`],
    [REC.ATTR, `log_client_address=${c.addr}`],
    [REC.ATTR, `log_client_port=${c.port}`],
    [REC.ATTR, `log_helo_name=${state.helo}`],
    [REC.ATTR, `log_protocol_name=${protocolName(state)}`],
    [REC.ATTR, `rewrite_context=${state.rewriteContext}`],
  ];
  // cleanup prints the TLS text as Postfix's Received: comment lines and
  // keeps it out of the queue file.
  if (state.sasl)
    list.push(
      [REC.ATTR, `sasl_method=${state.sasl.method}`],
      [REC.ATTR, `sasl_username=${state.sasl.username}`],
    );
  if (state.tls?.receivedText)
    list.push([REC.ATTR, `${TLS_RECEIVED_ATTR}=${state.tls.receivedText}`]);
  // Postfix's names (MAIL_ATTR_DSN_ENVID, MAIL_ATTR_DSN_RET), and the
  // number for RET, as qmgr reads them.
  if (t.envid) list.push([REC.ATTR, `envelope_id=${t.envid}`]);
  const ret = DSN_RET[t.ret as keyof typeof DSN_RET];
  if (ret) list.push([REC.ATTR, `ret_flags=${ret}`]);
  // content_filter (a re-injection smtpd has "-o content_filter=" in
  // master.cf); a FILTER from an access table comes later and wins.
  const filter = config.get('content_filter').trim();
  if (filter) list.push([REC.FILTER, filter]);
  list.push([REC.SENDER, t.sender]);
  return list;
}

// The session's actions (found before MAIL) and the transaction's.
function mergedActions(state: SmtpdState): SavedActions {
  const a = state.sessionActions;
  const b = state.transaction?.saved;
  return {
    discard: !!(a?.discard || b?.discard),
    filter: b?.filter || a?.filter || '',
    redirect: b?.redirect || a?.redirect || '',
    bcc: [...(a?.bcc ?? []), ...(b?.bcc ?? [])],
    prepend: [...(a?.prepend ?? []), ...(b?.prepend ?? [])],
  };
}

// Postfix's order: L content filter, > redirect, the BCC recipients,
// then f with the extra HOLD and DISCARD flags.
function actionRecords(
  saved: SavedActions,
  hold: number,
): Array<[string, string]> {
  const list: Array<[string, string]> = [];
  if (saved.filter) list.push([REC.FILTER, saved.filter]);
  if (saved.redirect) list.push([REC.REDIRECT, saved.redirect]);
  // NOTIFY=NEVER: Postfix asks no delivery notice for an access BCC.
  for (const bcc of saved.bcc)
    list.push([REC.DSN_NOTIFY, String(DSN_NOTIFY.NEVER)], [REC.RCPT, bcc]);
  const flags = hold | (saved.discard ? CLEANUP_FLAG.DISCARD : 0);
  if (flags) list.push([REC.FLAGS, String(flags)]);
  return list;
}
