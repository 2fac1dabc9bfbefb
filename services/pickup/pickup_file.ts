// One maildrop file through cleanup. A user's file is checked again (its
// owner could have changed it): postdrop's record types only, one-line
// envelope values, a few DSN attributes. A file postsuper -r moved here
// (mail_owner's, not world-readable) is a full queue file, read with
// queue_file.ts. Used by pickup_scan.ts.

import * as fs from 'node:fs';
import { CleanupClient, CLEANUP_FLAG } from '../../packages/ipc/cleanup_client';
import { RecordReader, REC } from '../../packages/queue/record';
import {
  contentRecords,
  readEnvelope,
  type QueueRecipient,
} from '../../packages/queue/queue_file';
import { msg } from '../../packages/log/log';
import { Config } from '../../packages/config/config';
import { cleanupFlags } from '../cleanup/cleanup_input_transp';

// Postfix's rec_type.h sets for files in maildrop/.
const ALLOWED = { envelope: 'MCFSRVAin', content: 'XLN', extracted: 'EAR' };
type Phase = keyof typeof ALLOWED;
const NEXT_PHASE: Record<string, Phase> = { M: 'content', X: 'extracted' };

// Attributes a local user may give (sendmail -N -R -V -bv -v); others,
// such as log_client_address, would forge the Received: header.
const USER_ATTRS = new Set([
  'envelope_id',
  'ret_flags',
  'notify_flags',
  'trace_flags',
  'dsn_orig_rcpt',
]);

// Queue-file attributes cleanup writes anew for the new queue ID.
const REQUEUE_SKIP_ATTRS = new Set(['create_time', 'log_ident']);

export const PICKUP_RESULT = {
  DONE: 'done', // cleanup has it: remove the maildrop file
  RETRY: 'retry', // cleanup unavailable: keep the file for later
  REJECT: 'reject', // bad file or rejected message: set it aside
} as const;
export type PickupResult = (typeof PICKUP_RESULT)[keyof typeof PICKUP_RESULT];

export class PickupError extends Error {}

interface Source {
  uid: number;
  requeued: boolean;
}

export function isRequeued(stat: fs.Stats, mailOwnerUid: number): boolean {
  return stat.uid === mailOwnerUid && (stat.mode & 0o004) === 0;
}

async function send(
  client: CleanupClient,
  type: string,
  data: Buffer | string,
) {
  if (!client.record(type, data)) await client.drain();
}

function oneLine(data: Buffer): boolean {
  return !data.includes(0) && !data.includes(10) && !data.includes(13);
}

// Check one record of a user's file; false: skip it (a warned attribute).
function checkUserRecord(
  src: Source,
  phase: Phase,
  type: string,
  data: Buffer,
): boolean {
  if (!ALLOWED[phase].includes(type))
    throw new PickupError(
      `uid=${src.uid}: unexpected record type: ${type.charCodeAt(0)}`,
    );
  if (phase !== 'content' && !oneLine(data))
    throw new PickupError(
      `uid=${src.uid}: malformed record type: ${type.charCodeAt(0)}`,
    );
  if (type !== REC.ATTR) return true;
  const name = data.toString('utf8').split('=')[0];
  if (USER_ATTRS.has(name)) return true;
  msg.warn(`uid=${src.uid}: ignoring attribute record: ${name}`);
  return false;
}

// The envelope header pickup adds: local rewriting, and the uid that
// cleanup names in "Received: by ... (Postfix, from userid N)".
async function sendLocalAttrs(
  client: CleanupClient,
  uid: number,
): Promise<void> {
  await send(client, REC.ATTR, 'rewrite_context=local');
  await send(client, REC.ATTR, `submit_uid=${uid}`);
  await sendContentFilter(client);
}

// content_filter from pickup's configuration (master.cf may give pickup
// its own with -o), as Postfix's pickup records it; requeued mail
// (postsuper -r) goes through the filter again.
async function sendContentFilter(client: CleanupClient): Promise<void> {
  const filter = pickupConfig?.get('content_filter').trim();
  if (filter) await send(client, REC.FILTER, filter);
}

// A user's file, record by record: T first (then our own attributes),
// every later record checked before it goes to cleanup.
class UserFileCopy {
  #phase: Phase = 'envelope';
  #started = false;

  constructor(
    readonly client: CleanupClient,
    readonly src: Source,
  ) {}

  // true at the E record.
  async record(type: string, data: Buffer): Promise<boolean> {
    if (!this.#started) return this.#start(type, data);
    if (!checkUserRecord(this.src, this.#phase, type, data)) return false;
    if (type === REC.SENDER)
      logSender(this.client.queueId, this.src, data.toString('utf8'));
    this.#phase = NEXT_PHASE[type] ?? this.#phase;
    await send(this.client, type, data);
    return type === REC.END;
  }

  async #start(type: string, data: Buffer): Promise<boolean> {
    if (type !== REC.TIME)
      throw new PickupError(`uid=${this.src.uid}: no arrival time record`);
    this.#started = true;
    await send(this.client, REC.TIME, data);
    await sendLocalAttrs(this.client, this.src.uid);
    return false;
  }
}

async function copyUserFile(
  client: CleanupClient,
  file: string,
  src: Source,
): Promise<void> {
  const copy = new UserFileCopy(client, src);
  const reader = new RecordReader();
  const input = fs.createReadStream(file, { highWaterMark: 256 * 1024 });
  for await (const chunk of input) {
    reader.push(chunk as Buffer);
    for (let rec = reader.take(); rec; rec = reader.take())
      if (await copy.record(rec.type, rec.data)) return void input.destroy();
  }
  throw new PickupError(`uid=${src.uid}: premature end of file`);
}

function logSender(
  queueId: string,
  src: Source,
  sender: string,
  origId = '',
): void {
  const orig = origId ? ` orig_id=${origId}` : '';
  msg.info(`${queueId}: uid=${src.uid} from=<${sender}>${orig}`);
}

async function sendRecipients(
  client: CleanupClient,
  recipients: QueueRecipient[],
): Promise<void> {
  for (const r of recipients) {
    if (r.dsnOrigRcpt)
      await send(client, REC.ATTR, `dsn_orig_rcpt=${r.dsnOrigRcpt}`);
    if (r.notifyFlags)
      await send(client, REC.ATTR, `notify_flags=${r.notifyFlags}`);
    await send(client, REC.ORCP, r.originalRecipient || r.recipient);
    await send(client, REC.RCPT, r.recipient);
  }
}

// A requeued queue file: its pending recipients and content again, with
// cleanup's own bookkeeping (C, create_time, log_ident, done ones) left out.
async function copyRequeued(
  client: CleanupClient,
  file: string,
  src: Source,
): Promise<void> {
  const env = await readEnvelope(file);
  const sec = Math.floor(env.arrivalTime);
  await send(
    client,
    REC.TIME,
    `${sec} ${Math.round((env.arrivalTime - sec) * 1e6)}`,
  );
  for (const [name, value] of Object.entries(env.attrs))
    if (!REQUEUE_SKIP_ATTRS.has(name))
      await send(client, REC.ATTR, `${name}=${value}`);
  await sendContentFilter(client);
  if (env.fullname) await send(client, REC.FULLNAME, env.fullname);
  await send(client, REC.SENDER, env.sender);
  logSender(client.queueId, src, env.sender, env.attrs.log_ident ?? '');
  await sendRecipients(client, env.recipients);
  await send(client, REC.MESG, '');
  for await (const rec of contentRecords(file, env.dataOffset))
    await send(client, rec.type, rec.data);
  await send(client, REC.XTRA, '');
  await send(client, REC.END, '');
}

// Temporary cleanup failures keep the file; anything else sets it aside.
const TEMPORARY = 256 | 2; // CLEANUP_STAT DEFER | WRITE

// Postfix's external mask (content checks, BCC, address mapping) with
// BOUNCE, so that local mail is mapped and checked as SMTP mail is, and
// a requeued file (postsuper -r) meets the maps of today.
const PICKUP_CLEANUP_FLAGS =
  CLEANUP_FLAG.BOUNCE |
  CLEANUP_FLAG.FILTER |
  CLEANUP_FLAG.BCC_OK |
  CLEANUP_FLAG.MAP_OK;

let pickupConfig: Config | null = null;

// pickup.ts should hand over its ctx.config (with -o overrides).
export function setPickupConfig(config: Config): void {
  pickupConfig = config;
}

// receive_override_options takes away what it names. pickup.ts gives
// its configuration (with master.cf's -o); tests that call pickupFile
// alone get main.cf from MAIL_CONFIG.
function pickupFlags(): number {
  try {
    pickupConfig ??= Config.load();
  } catch (err) {
    msg.warn(`pickupFlags: read main.cf: ${(err as Error).message}`);
    return PICKUP_CLEANUP_FLAGS;
  }
  return cleanupFlags(pickupConfig, PICKUP_CLEANUP_FLAGS);
}

export async function pickupFile(
  queueDir: string,
  file: string,
  stat: fs.Stats,
  mailOwnerUid: number,
): Promise<PickupResult> {
  const src = { uid: stat.uid, requeued: isRequeued(stat, mailOwnerUid) };
  let client: CleanupClient;
  try {
    client = await CleanupClient.open(queueDir, pickupFlags());
  } catch (err) {
    msg.warn(`pickupFile: connect to cleanup: ${(err as Error).message}`);
    return PICKUP_RESULT.RETRY;
  }
  try {
    await (src.requeued ? copyRequeued : copyUserFile)(client, file, src);
  } catch (err) {
    client.abort();
    if (!(err instanceof PickupError)) throw err;
    msg.warn(`${client.queueId}: ${err.message}`);
    return PICKUP_RESULT.REJECT;
  }
  return verdict(client);
}

async function verdict(client: CleanupClient): Promise<PickupResult> {
  const { status, reason } = await client.finish();
  if (status === 0) return PICKUP_RESULT.DONE;
  // With CLEANUP_FLAG_BOUNCE cleanup returns a refused message to its
  // sender and answers 0; what still fails here is bad or temporary, and
  // a bad file is set aside in corrupt/.
  msg.warn(
    `${client.queueId}: message rejected by cleanup: ${reason || status}`,
  );
  return status & TEMPORARY ? PICKUP_RESULT.RETRY : PICKUP_RESULT.REJECT;
}
