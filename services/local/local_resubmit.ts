// Forwarding for local: addresses from .forward files, :include: files
// and owner- aliases that are not delivered here are resubmitted as one
// new message per sender through public/cleanup, so that each forwarded
// recipient gets its own queue file record. Logged "forwarded as ID".

import {
  CleanupClient,
  CLEANUP_FLAG,
  cleanupStatusReply,
} from '../../packages/ipc/cleanup_client';
import { REC } from '../../packages/queue/record';
import { copyHeaders } from './local_attr';
import { COPY_FORWARD, messageChunks } from './local_content';
import {
  deferred,
  sent,
  type ForwardItem,
  type LocalContext,
} from './local_state';

// Queue a forwarded copy; sent by flushForwards once the expansion of
// the queue file's recipient is complete.
export function forwardLater(ctx: LocalContext, item: ForwardItem): void {
  ctx.forwards.push(item);
}

export async function flushForwards(ctx: LocalContext): Promise<void> {
  const bySender = new Map<string, ForwardItem[]>();
  for (const item of ctx.forwards) {
    const list = bySender.get(item.attr.sender) ?? [];
    list.push(item);
    bySender.set(item.attr.sender, list);
  }
  ctx.forwards = [];
  for (const [sender, items] of bySender)
    await forwardGroup(ctx, sender, items);
}

async function forwardGroup(
  ctx: LocalContext,
  sender: string,
  items: ForwardItem[],
): Promise<void> {
  let outcome;
  try {
    const id = await submit(ctx, sender, items);
    outcome = sent(`forwarded as ${id}`);
  } catch (err) {
    outcome = deferred(
      '4.3.0',
      `mail forwarding failed: ` + `${(err as Error).message}`,
    );
  }
  for (const item of items) ctx.record(item.attr, outcome);
}

// Envelope, then the content with a Delivered-To: line first so that a
// copy that comes back here is recognised as a loop.
async function submit(
  ctx: LocalContext,
  sender: string,
  items: ForwardItem[],
): Promise<string> {
  const flags = CLEANUP_FLAG.BOUNCE | CLEANUP_FLAG.MAP_OK;
  const client = await CleanupClient.open(ctx.queueDir, flags);
  try {
    await client.records(envelope(ctx, sender, items));
    const headers = copyHeaders(ctx, items[0].attr, 'forward');
    await sendContent(ctx, client, headers);
    client.record(REC.XTRA);
    const result = await client.finish(true);
    if (result.status !== 0)
      throw new Error(result.reason || cleanupStatusReply(result.status)!.text);
    return client.queueId;
  } catch (err) {
    client.abort();
    throw err;
  }
}

function* envelope(
  ctx: LocalContext,
  sender: string,
  items: ForwardItem[],
): Generator<[string, string]> {
  const now = Date.now();
  yield [REC.TIME, `${Math.floor(now / 1000)} ${(now % 1000) * 1000}`];
  yield [REC.ATTR, 'rewrite_context=local'];
  if (ctx.msg.envelopeId) yield [REC.DSN_ENVID, ctx.msg.envelopeId];
  yield [REC.SENDER, sender];
  for (const item of items) {
    if (item.attr.origRecipient) yield [REC.ORCP, item.attr.origRecipient];
    yield [REC.RCPT, item.address];
  }
  yield [REC.MESG, ''];
}

// Whole content lines as N records; cleanup applies line_length_limit.
async function sendContent(
  ctx: LocalContext,
  client: CleanupClient,
  headers: { originalRecipient: string; deliveredTo: string },
): Promise<void> {
  const opts = { ...COPY_FORWARD, ...headers };
  let rest = Buffer.alloc(0);
  for (const chunk of messageChunks(ctx.msg, opts)) {
    const text = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let nl = text.indexOf(10); nl >= 0; nl = text.indexOf(10, start)) {
      if (!client.record(REC.NORM, text.subarray(start, nl)))
        await client.drain();
      start = nl + 1;
    }
    rest = Buffer.from(text.subarray(start));
  }
  if (rest.length) client.record(REC.NORM, rest);
}
