// Sending the notices of one message's bounce/, defer/ and trace/ logs:
// built by bounce_notice.ts, posted to cleanup from the null sender, and
// logged as Postfix's bounce logs them. A bounce of mail from the null
// sender goes to 2bounce_notice_recipient from the double-bounce sender;
// a failed double bounce is dropped. Used by bounce_service, qmgr_bounce.

import { CleanupClient, CLEANUP_FLAG } from '../../packages/ipc/cleanup_client';
import { msg } from '../../packages/log/log';
import {
  contentLines,
  type QueueEnvelope,
} from '../../packages/queue/queue_file';
import { REC } from '../../packages/queue/record';
import type { StatusRecord } from '../../packages/queue/status_log';
import { DEL_REQ_FLAG } from '../../packages/queue/delivery_trace';
import { DSN_NOTIFY, DSN_RET } from '../../packages/queue/dsn_mask';
import { buildNotice, type NoticeInput } from './bounce_notice';

export interface BounceConfig {
  get(name: string): string;
  int(name: string): number;
}

// cleanup's line_length_limit default: longer lines go as L pieces.
const LINE_PIECE = 2048;

interface Route {
  from: string;
  to: string;
  what: 'sender' | 'postmaster';
}

function route(sender: string, config: BounceConfig): Route | null {
  const origin = config.get('myorigin');
  const double = `${config.get('double_bounce_sender')}@${origin}`;
  if (sender.toLowerCase() === double.toLowerCase()) return null;
  if (sender) return { from: '', to: sender, what: 'sender' };
  const to = config.get('2bounce_notice_recipient');
  return {
    from: double,
    to: to.includes('@') ? to : `${to}@${origin}`,
    what: 'postmaster',
  };
}

async function readContent(env: QueueEnvelope): Promise<Buffer[]> {
  const lines: Buffer[] = [];
  for await (const line of contentLines(env.path, env.dataOffset))
    lines.push(line);
  return lines;
}

function contentRecords(lines: Buffer[]): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (let line of lines) {
    while (line.length > LINE_PIECE) {
      out.push([REC.CONT, line.subarray(0, LINE_PIECE)]);
      line = line.subarray(LINE_PIECE);
    }
    out.push([REC.NORM, line]);
  }
  return out;
}

async function post(
  queueDir: string,
  r: Route,
  lines: Buffer[],
  now: number,
): Promise<string> {
  const client = await CleanupClient.open(queueDir, CLEANUP_FLAG.MAP_OK);
  const sec = Math.floor(now);
  await client.records([
    [REC.TIME, `${sec} ${Math.round((now - sec) * 1e6)}`],
    [REC.ATTR, 'rewrite_context=local'],
    [REC.SENDER, r.from],
    [REC.ORCP, r.to],
    [REC.RCPT, r.to],
    [REC.MESG, ''],
    ...contentRecords(lines),
    [REC.XTRA, ''],
  ]);
  const result = await client.finish(true);
  if (result.status !== 0)
    throw new Error(`cleanup status ${result.status}: ${result.reason}`);
  return client.queueId;
}

// What a notice says of the message it is about; the rest is per kind.
// RFC 3461 NOTIFY: a recipient that gave none gets failure and delay
// notices, as Postfix's default; NOTIFY=NEVER gets none.
export function asked(records: StatusRecord[], bit: number): StatusRecord[] {
  return records.filter((r) => !r.notifyFlags || r.notifyFlags & bit);
}

type NoticeParts = Omit<
  NoticeInput,
  'to' | 'myhostname' | 'myorigin' | 'now' | 'postmasterCopy'
>;

function fromEnvelope(env: QueueEnvelope, records: StatusRecord[]) {
  return {
    queueId: env.queueId,
    sender: env.sender,
    arrivalTime: env.arrivalTime,
    envelopeId: env.dsnEnvid,
    records,
  };
}

// Build one notice, queue it through cleanup and log it as Postfix's
// bounce does ("ID: sender non-delivery notification: NEWID").
async function sendNotice(
  queueDir: string,
  config: BounceConfig,
  r: Route,
  what: string,
  parts: NoticeParts,
): Promise<string> {
  const now = Date.now() / 1000;
  const lines = buildNotice({
    ...parts,
    to: r.to,
    myhostname: config.get('myhostname'),
    myorigin: config.get('myorigin'),
    now,
    postmasterCopy: r.what === 'postmaster',
  });
  const newId = await post(queueDir, r, lines, now);
  msg.info(`${parts.queueId}: ${what}: ${newId}`);
  return newId;
}

// The new queue ID, or null when no notice is due (a double bounce).
// Throws when cleanup did not take the notice; the caller keeps the log.
export async function sendNonDeliveryNotice(
  queueDir: string,
  config: BounceConfig,
  env: QueueEnvelope,
  records: StatusRecord[],
): Promise<string | null> {
  const r = route(env.sender, config);
  if (r?.what === 'sender') records = asked(records, DSN_NOTIFY.FAILURE);
  if (!r || !records.length) return null;
  const tooBig = env.contentSize > config.int('bounce_size_limit');
  return sendNotice(
    queueDir,
    config,
    r,
    `${r.what} non-delivery notification`,
    {
      ...fromEnvelope(env, records),
      content: await readContent(env),
      headersOnly: tooBig || (env.dsnRet & DSN_RET.HDRS) !== 0,
    },
  );
}

// A delay warning (delay_warning_time) for the records of defer/ID: to
// the sender only, never about mail from the null sender.
export async function sendDelayNotice(
  queueDir: string,
  config: BounceConfig,
  env: QueueEnvelope,
  records: StatusRecord[],
): Promise<string | null> {
  const r = route(env.sender, config);
  records = asked(records, DSN_NOTIFY.DELAY);
  if (!r || r.what !== 'sender' || !records.length) return null;
  return sendNotice(queueDir, config, r, 'sender delay notification', {
    ...fromEnvelope(env, records),
    content: await readContent(env),
    headersOnly: true,
    delay: true,
  });
}

// The report of trace/ID (Postfix's trace_flush): for sendmail -v and
// -bv the delivery status report of every record, else the success
// notice (NOTIFY=SUCCESS). To the sender only: mail from the null
// sender or the double-bounce address gets no report, so that a report
// can never be reported on. The message's headers go with it.
export async function sendTraceNotice(
  queueDir: string,
  config: BounceConfig,
  env: QueueEnvelope,
  records: StatusRecord[],
  flags: number,
): Promise<string | null> {
  const r = route(env.sender, config);
  const verify = (flags & (DEL_REQ_FLAG.USR_VRFY | DEL_REQ_FLAG.RECORD)) !== 0;
  if (!r || r.what !== 'sender') {
    msg.info(`${env.queueId}: not sending a report for mail from <>`);
    return null;
  }
  if (!records.length) return null;
  return sendNotice(
    queueDir,
    config,
    r,
    'sender delivery status notification',
    {
      ...fromEnvelope(env, records),
      content: await readContent(env),
      headersOnly: true,
      kind: verify ? 'verify' : 'success',
    },
  );
}

// What cleanup knows of a message it refused (CLEANUP_FLAG_BOUNCE).
export interface RejectedMessage {
  queueId: string;
  sender: string;
  arrivalTime: number; // seconds
  records: StatusRecord[];
}

// The notice for a local submission that cleanup refused: the message
// was never stored, so the notice returns no content. Returns the new
// queue ID, or null when no notice is due (a double bounce).
// XXX Postfix returns the message's headers here, as far as cleanup
// read them; ours are not kept once the message is refused.
export async function sendRejectNotice(
  queueDir: string,
  config: BounceConfig,
  m: RejectedMessage,
): Promise<string | null> {
  const r = route(m.sender, config);
  if (!r || !m.records.length) return null;
  return sendNotice(
    queueDir,
    config,
    r,
    `${r.what} non-delivery notification`,
    {
      queueId: m.queueId,
      sender: m.sender,
      arrivalTime: m.arrivalTime,
      envelopeId: '',
      records: m.records,
      content: [],
      headersOnly: true,
    },
  );
}
