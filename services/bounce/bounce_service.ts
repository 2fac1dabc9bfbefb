// The bounce protocol on private/bounce, both sides: qmgr asks for a
// flush of bounce/ID (BOUNCE_CMD_FLUSH: the notice is sent and the log
// removed) or a delay warning from defer/ID (BOUNCE_CMD_WARN). Attributes:
// server → protocol=bounce_protocol; client → nrequest=1|2, queue_name,
// queue_id; server → status (0 done, 1 try later).

import type * as net from 'node:net';
import { AttrStream, connectService } from '../../packages/ipc/ipc';
import { msg } from '../../packages/log/log';
import { queuePath, type QueueConfig } from '../../packages/queue/mail_queue';
import { readEnvelope } from '../../packages/queue/queue_file';
import {
  readStatusLog,
  removeStatusLog,
  STATUS_LOG,
} from '../../packages/queue/status_log';
import {
  sendDelayNotice,
  sendNonDeliveryNotice,
  type BounceConfig,
} from './bounce_notify';

const PROTOCOL = 'bounce_protocol';

// Postfix's bounce.h request codes; flush and warn are served.
export const BOUNCE_CMD = { APPEND: 0, FLUSH: 1, WARN: 2 } as const;

export type BounceServiceConfig = BounceConfig & QueueConfig;

const QUEUE_NAME = /^[a-z]+$/;
const QUEUE_ID = /^[A-Za-z0-9]+$/;

export class BounceUnavailableError extends Error {}

async function flush(
  queueDir: string,
  config: BounceServiceConfig,
  queueName: string,
  queueId: string,
): Promise<void> {
  const env = await readEnvelope(
    queuePath(queueDir, queueName, queueId, config),
  );
  const records = await readStatusLog(
    queueDir,
    STATUS_LOG.BOUNCE,
    queueId,
    config,
  );
  await sendNonDeliveryNotice(queueDir, config, env, records);
  await removeStatusLog(queueDir, STATUS_LOG.BOUNCE, queueId, config);
}

// The delay warning reads defer/ID and leaves it: mailq still shows it.
async function warn(
  queueDir: string,
  config: BounceServiceConfig,
  queueName: string,
  queueId: string,
): Promise<void> {
  const env = await readEnvelope(
    queuePath(queueDir, queueName, queueId, config),
  );
  const records = await readStatusLog(
    queueDir,
    STATUS_LOG.DEFER,
    queueId,
    config,
  );
  const pending = new Set(env.recipients.map((r) => r.offset));
  const still = records.filter((r) => pending.has(r.offset));
  await sendDelayNotice(queueDir, config, env, still);
}

const HANDLERS: Record<string, typeof flush> = {
  [BOUNCE_CMD.FLUSH]: flush,
  [BOUNCE_CMD.WARN]: warn,
};

// Server side: one request per connection. Bad input is answered with
// status 1 and a warning, never a crash.
export async function serveBounce(
  socket: net.Socket,
  queueDir: string,
  config: BounceServiceConfig,
): Promise<void> {
  const stream = AttrStream.fromSocket(socket);
  let status = 1;
  try {
    stream.writeAttrs({ protocol: PROTOCOL });
    const req = await stream.readAttrs();
    const name = req.queue_name ?? '';
    const id = req.queue_id ?? '';
    const handler = HANDLERS[req.nrequest ?? ''];
    if (!handler)
      throw new Error(`unsupported request: ${req.nrequest ?? '(none)'}`);
    if (!QUEUE_NAME.test(name) || !QUEUE_ID.test(id))
      throw new Error(`bad queue name or ID: ${name}/${id}`);
    await handler(queueDir, config, name, id);
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
): Promise<boolean> {
  let stream: AttrStream;
  try {
    stream = await connectService(queueDir, 'private', 'bounce', 10_000);
  } catch (err) {
    throw new BounceUnavailableError((err as Error).message);
  }
  try {
    const hello = await stream.readAttrs();
    if (hello.protocol !== PROTOCOL) return false;
    stream.writeAttrs({
      nrequest: command,
      queue_name: queueName,
      queue_id: queueId,
    });
    return (await stream.readAttrs()).status === '0';
  } finally {
    stream.destroy();
  }
}
