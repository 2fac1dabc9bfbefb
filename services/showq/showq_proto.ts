// The showq protocol on public/showq, in attr0 lists: per message one
// list (queue_name queue_id time size forced_expire sender rcpt_count),
// then rcpt_count lists (recipient orig_recipient reason); an empty list
// ends the listing. Written by the showq daemon, read by postqueue.

import { AttrStream } from '../../packages/ipc/attr';
import type { ShowqEntry } from './showq_queue';

export async function writeEntry(
  stream: AttrStream,
  e: ShowqEntry,
): Promise<void> {
  stream.writeAttrs({
    queue_name: e.queueName,
    queue_id: e.queueId,
    time: e.arrivalTime,
    size: e.size,
    forced_expire: e.forcedExpire ? 1 : 0,
    sender: e.sender,
    rcpt_count: e.recipients.length,
  });
  for (const r of e.recipients)
    stream.writeAttrs({
      recipient: r.address,
      orig_recipient: r.origAddress,
      reason: r.reason,
    });
  await stream.drain();
}

export function writeEnd(stream: AttrStream): void {
  stream.writeAttrs({});
}

// Entries until the empty list; a broken stream ends with an error.
export async function* readEntries(
  stream: AttrStream,
): AsyncGenerator<ShowqEntry> {
  for (;;) {
    const m = await stream.readAttrs();
    if (m.queue_id === undefined) return;
    const entry: ShowqEntry = {
      queueName: m.queue_name,
      queueId: m.queue_id,
      arrivalTime: Number(m.time),
      size: Number(m.size),
      forcedExpire: m.forced_expire === '1',
      sender: m.sender ?? '',
      recipients: [],
    };
    for (let n = Number(m.rcpt_count); n > 0; n--) {
      const r = await stream.readAttrs();
      entry.recipients.push({
        address: r.recipient,
        origAddress: r.orig_recipient ?? '',
        reason: r.reason ?? '',
      });
    }
    yield entry;
  }
}
