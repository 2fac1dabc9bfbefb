// The queue as showq reports it: each complete message of maildrop,
// hold, incoming, active and deferred (Postfix's order) with arrival
// time, size, sender, pending recipients and defer reasons. Used by the
// showq daemon, and by postqueue reading the queue directly as root.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { QUEUE, type QueueConfig } from '../../packages/queue/mail_queue';
import { isQueueId } from '../../packages/queue/queue_id';
import { readEnvelope } from '../../packages/queue/queue_file';
import { readStatusLog, STATUS_LOG } from '../../packages/queue/status_log';
import { RecordReader, REC } from '../../packages/queue/record';

export const SHOWQ_QUEUES = [
  QUEUE.MAILDROP,
  QUEUE.HOLD,
  QUEUE.INCOMING,
  QUEUE.ACTIVE,
  QUEUE.DEFERRED,
] as const;

export interface ShowqRecipient {
  address: string;
  origAddress: string;
  reason: string; // delay reason from defer/ID, '' when none
}

export interface ShowqEntry {
  queueName: string;
  queueId: string;
  arrivalTime: number; // seconds
  size: number;
  forcedExpire: boolean; // g+x on the file (postsuper -e)
  sender: string;
  recipients: ShowqRecipient[];
}

// Queue IDs under one queue, hashed subdirectories included.
export function queueFiles(
  queueDir: string,
  queue: string,
): Array<{ id: string; file: string }> {
  const out: Array<{ id: string; file: string }> = [];
  const walk = (dir: string, depth: number) => {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const d of names) {
      const where = path.join(dir, d.name);
      if (d.isDirectory() && d.name.length === 1 && depth < 16)
        walk(where, depth + 1);
      else if (d.isFile() && isQueueId(d.name))
        out.push({ id: d.name, file: where });
    }
  };
  walk(path.join(queueDir, queue), 0);
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

function isComplete(stat: fs.Stats): boolean {
  return (stat.mode & 0o700) === 0o700;
}

// A maildrop file has no C record: the file size stands for the size.
async function readMaildrop(
  file: string,
  stat: fs.Stats,
): Promise<Omit<ShowqEntry, 'queueName' | 'queueId'>> {
  const entry = {
    arrivalTime: stat.mtimeMs / 1000,
    size: stat.size,
    forcedExpire: false,
    sender: '',
    recipients: [] as ShowqRecipient[],
  };
  const reader = new RecordReader();
  for await (const chunk of fs.createReadStream(file, {
    highWaterMark: 64 * 1024,
  })) {
    reader.push(chunk as Buffer);
    for (let rec = reader.take(); rec; rec = reader.take()) {
      const text = rec.data.toString('utf8');
      if (rec.type === REC.TIME) entry.arrivalTime = Number(text.split(' ')[0]);
      if (rec.type === REC.SENDER) entry.sender = text;
      if (rec.type === REC.RCPT)
        entry.recipients.push({ address: text, origAddress: '', reason: '' });
    }
  }
  return entry;
}

async function readQueued(
  queueDir: string,
  id: string,
  file: string,
  config: QueueConfig,
): Promise<Omit<ShowqEntry, 'queueName' | 'queueId'>> {
  const env = await readEnvelope(file);
  const reasons = new Map<string, string>();
  for (const r of await readStatusLog(
    queueDir,
    STATUS_LOG.DEFER,
    id,
    config,
  ).catch(() => []))
    reasons.set(r.recipient, r.reason);
  return {
    arrivalTime: Math.floor(env.arrivalTime),
    size: env.contentSize,
    forcedExpire: (env.stat.mode & 0o010) !== 0,
    sender: env.sender,
    recipients: env.recipients.map((r) => ({
      address: r.recipient,
      origAddress: r.originalRecipient,
      reason: reasons.get(r.recipient) ?? '',
    })),
  };
}

// One message; null when it went away or is not complete yet.
export async function readEntry(
  queueDir: string,
  queue: string,
  id: string,
  file: string,
  config: QueueConfig,
): Promise<ShowqEntry | null> {
  try {
    const stat = fs.statSync(file);
    if (!isComplete(stat)) return null;
    const body =
      queue === QUEUE.MAILDROP
        ? await readMaildrop(file, stat)
        : await readQueued(queueDir, id, file, config);
    return { queueName: queue, queueId: id, ...body };
  } catch {
    return null; // delivered, moved or damaged while we looked
  }
}

export async function* listQueue(
  queueDir: string,
  config: QueueConfig,
): AsyncGenerator<ShowqEntry> {
  for (const queue of SHOWQ_QUEUES)
    for (const { id, file } of queueFiles(queueDir, queue)) {
      const entry = await readEntry(queueDir, queue, id, file, config);
      if (entry) yield entry;
    }
}
