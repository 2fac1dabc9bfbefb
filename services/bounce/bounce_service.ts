// The bounce protocol on private/bounce, defer and trace, both sides:
// qmgr asks for a flush of bounce/ID (FLUSH: notice sent, log removed), a
// delay warning from defer/ID (WARN) or the report of trace/ID (TRACE);
// agents append one record (APPEND). Server: protocol=bounce_protocol;
// client: nrequest, flags, queue_name, queue_id...; server: status 0 done.

import type * as net from 'node:net';
import { AttrStream, connectService } from '../../packages/ipc/ipc';
import type { Attrs } from '../../packages/ipc/ipc';
import { msg } from '../../packages/log/log';
import { queuePath, type QueueConfig } from '../../packages/queue/mail_queue';
import { readEnvelope } from '../../packages/queue/queue_file';
import {
  appendStatus,
  readStatusLog,
  removeStatusLog,
  STATUS_LOG,
  type StatusInput,
} from '../../packages/queue/status_log';
import {
  sendDelayNotice,
  sendNonDeliveryNotice,
  sendTraceNotice,
  type BounceConfig,
} from './bounce_notify';

const PROTOCOL = 'bounce_protocol';

// Postfix's bounce.h request codes; all but VERP and ONE are served.
export const BOUNCE_CMD = {
  APPEND: 0,
  FLUSH: 1,
  WARN: 2,
  VERP: 3,
  ONE: 4,
  TRACE: 5,
} as const;

export type BounceServiceConfig = BounceConfig & QueueConfig;

const QUEUE_NAME = /^[a-z]+$/;
const QUEUE_ID = /^[A-Za-z0-9]+$/;

export class BounceUnavailableError extends Error {}

// One request as the handlers see it; service is the master.cf name we
// run under (bounce, defer or trace), which names the log we append to.
interface BounceRequest {
  queueDir: string;
  config: BounceServiceConfig;
  service: string;
  attrs: Attrs;
}

function queueOf(r: BounceRequest): { name: string; id: string } {
  const name = r.attrs.queue_name ?? '';
  const id = r.attrs.queue_id ?? '';
  if (!QUEUE_NAME.test(name) || !QUEUE_ID.test(id))
    throw new Error(`bad queue name or ID: ${name}/${id}`);
  return { name, id };
}

function envelopeOf(r: BounceRequest, q: { name: string; id: string }) {
  return readEnvelope(queuePath(r.queueDir, q.name, q.id, r.config));
}

async function flush(r: BounceRequest): Promise<void> {
  const q = queueOf(r);
  const env = await envelopeOf(r, q);
  const log = STATUS_LOG.BOUNCE;
  const records = await readStatusLog(r.queueDir, log, q.id, r.config);
  await sendNonDeliveryNotice(r.queueDir, r.config, env, records);
  await removeStatusLog(r.queueDir, log, q.id, r.config);
}

// The delay warning reads defer/ID and leaves it: mailq still shows it.
async function warn(r: BounceRequest): Promise<void> {
  const q = queueOf(r);
  const env = await envelopeOf(r, q);
  const log = STATUS_LOG.DEFER;
  const records = await readStatusLog(r.queueDir, log, q.id, r.config);
  const pending = new Set(env.recipients.map((x) => x.offset));
  const still = records.filter((x) => pending.has(x.offset));
  await sendDelayNotice(r.queueDir, r.config, env, still);
}

// Postfix's trace_flush: the report of trace/ID goes to the sender (a
// delivery status report for -v and -bv, else a success notice), then
// the log goes. No log means nothing to report.
async function trace(r: BounceRequest): Promise<void> {
  const q = queueOf(r);
  const log = STATUS_LOG.TRACE;
  const records = await readStatusLog(r.queueDir, log, q.id, r.config);
  if (!records.length) return;
  const env = await envelopeOf(r, q);
  const flags = Number(r.attrs.flags ?? 0) || 0;
  await sendTraceNotice(r.queueDir, r.config, env, records, flags);
  await removeStatusLog(r.queueDir, log, q.id, r.config);
}

// The log is the one of the service we run as, as with Postfix's
// bounce, defer and trace; an agent appends one recipient's record.
async function append(r: BounceRequest): Promise<void> {
  const a = r.attrs;
  const id = a.queue_id ?? '';
  const log = Object.values(STATUS_LOG).find((l) => l === r.service);
  if (!log) throw new Error(`append to unknown log: ${r.service}`);
  if (!QUEUE_ID.test(id)) throw new Error(`bad queue ID: ${id}`);
  if (!a.recipient || !a.status || !a.action)
    throw new Error(`${id}: append: missing recipient, status or action`);
  await appendStatus(r.queueDir, log, id, recordOf(a), r.config);
}

function recordOf(a: Attrs): StatusInput {
  return {
    recipient: a.recipient,
    originalRecipient: a.original_recipient ?? '',
    offset: Number(a.offset ?? 0) || 0,
    dsnOrigRcpt: a.dsn_orig_rcpt ?? '',
    notifyFlags: Number(a.notify_flags ?? 0) || 0,
    status: a.status,
    action: a.action,
    reason: a.reason ?? '',
    diagType: a.diag_type ?? '',
    diagText: a.diag_text ?? '',
    mtaType: a.mta_type ?? '',
    mtaMname: a.mta_mname ?? '',
  };
}

const HANDLERS: Record<string, (r: BounceRequest) => Promise<void>> = {
  [BOUNCE_CMD.APPEND]: append,
  [BOUNCE_CMD.FLUSH]: flush,
  [BOUNCE_CMD.WARN]: warn,
  [BOUNCE_CMD.TRACE]: trace,
};

// Server side: one request per connection. Bad input is answered with
// status 1 and a warning, never a crash.
export async function serveBounce(
  socket: net.Socket,
  queueDir: string,
  config: BounceServiceConfig,
  service = 'bounce',
): Promise<void> {
  const stream = AttrStream.fromSocket(socket);
  let status = 1;
  try {
    stream.writeAttrs({ protocol: PROTOCOL });
    const attrs = await stream.readAttrs();
    const handler = HANDLERS[attrs.nrequest ?? ''];
    if (!handler)
      throw new Error(`unsupported request: ${attrs.nrequest ?? '(none)'}`);
    await handler({ queueDir, config, service, attrs });
    status = 0;
  } catch (err) {
    msg.warn(`serveBounce: ${(err as Error).message}`);
  } finally {
    stream.writeAttrs({ status });
    stream.close();
  }
}

// Client side (qmgr): true when the notice is queued and the log gone.
// BounceUnavailableError when no bounce service listens.
export async function requestBounceFlush(
  queueDir: string,
  queueName: string,
  queueId: string,
  command: number = BOUNCE_CMD.FLUSH,
  service = 'bounce',
  flags = 0,
): Promise<boolean> {
  let stream: AttrStream;
  try {
    stream = await connectService(queueDir, 'private', service, 10_000);
  } catch (err) {
    throw new BounceUnavailableError((err as Error).message);
  }
  try {
    const hello = await stream.readAttrs();
    if (hello.protocol !== PROTOCOL) return false;
    stream.writeAttrs({
      nrequest: command,
      flags,
      queue_name: queueName,
      queue_id: queueId,
    });
    return (await stream.readAttrs()).status === '0';
  } finally {
    stream.destroy();
  }
}
