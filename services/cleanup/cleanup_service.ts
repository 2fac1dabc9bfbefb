// The cleanup protocol server: greet with the queue ID, read the flags
// and the records phase by phase, then commit the file (fsync, mode
// 0700, HOLD into hold/), trigger qmgr and answer status and reason.
// handleCleanupClient serves one connection, and the next messages a
// client that keeps it asks for (request=next); many run at once.

import type * as net from 'node:net';
import * as fs from 'node:fs';
import { AttrStream, sendTrigger } from '../../packages/ipc/ipc';
import { CLEANUP_FLAG, CLEANUP_STAT } from '../../packages/ipc/cleanup_client';
import {
  awaitNextRequest,
  keepLimits,
} from '../../packages/ipc/kept_connection';
import {
  commitQueueFile,
  moveQueueFile,
  QUEUE,
} from '../../packages/queue/mail_queue';
import { REC, type Rec } from '../../packages/queue/record';
import { msg } from '../../packages/log/log';
import { CleanupState, PHASE, type CleanupContext } from './cleanup_state';
import { envelopeRecord, extractedRecord } from './cleanup_envelope';
import { contentRecord, endContent } from './cleanup_message';
import { bounceRejected, mayBounce } from './cleanup_bounce';

export type { CleanupContext } from './cleanup_state';

const SENDOPTS_SMTPUTF8 = 1;

// One handler per phase; the content phase knows only N, L and X.
const PHASE_HANDLERS = {
  [PHASE.ENVELOPE]: envelopeRecord,
  [PHASE.CONTENT]: onContentRecord,
  [PHASE.EXTRACTED]: extractedRecord,
  [PHASE.DONE]: () => undefined,
} as const;

function onContentRecord(
  state: CleanupState,
  type: string,
  data: Buffer,
): void | Promise<void> {
  if (type === REC.NORM || type === REC.CONT)
    return contentRecord(state, type, data);
  if (type !== REC.XTRA) {
    state.fail(CLEANUP_STAT.BAD);
    state.protocolWhy ||= `unexpected record type ${type.charCodeAt(0)} in content`;
    return;
  }
  return startExtracted(state);
}

async function startExtracted(state: CleanupState): Promise<void> {
  await endContent(state);
  state.xtraOffset = state.writer.offset;
  state.put(REC.XTRA);
  state.phase = PHASE.EXTRACTED;
}

async function readFlags(
  stream: AttrStream,
  state: CleanupState,
): Promise<void> {
  const attrs = await stream.readAttrs();
  const flags = Number(attrs.flags);
  if (!Number.isInteger(flags) || flags < 0) {
    state.fail(CLEANUP_STAT.BAD);
    state.protocolWhy = `bad flags: ${attrs.flags}`;
    return;
  }
  state.flags = flags;
}

// A synchronous write holds the event loop, so a fast client cannot
// fill our memory faster than the disk takes it.
function flushIfFull(state: CleanupState): void {
  if (state.writer.needsFlush) state.writer.flushSync();
}

// Read until E; after a content error keep reading (the client still
// sends the rest), but a protocol error ends the conversation at once.
async function readRecords(
  stream: AttrStream,
  state: CleanupState,
): Promise<void> {
  while (state.phase !== PHASE.DONE && !state.isBad) {
    const rec: Rec = await stream.readRecord();
    // Most records are handled at once; only lookups return a promise.
    const pending = PHASE_HANDLERS[state.phase](state, rec.type, rec.data);
    if (pending) await pending;
    if (!state.failed) flushIfFull(state);
  }
}

function finalChecks(state: CleanupState): void {
  if (state.failed) return;
  if (state.rcptCount === 0) state.fail(CLEANUP_STAT.RCPT);
}

// Write E and the final C record, then make the file complete.
async function commit(state: CleanupState): Promise<void> {
  const writer = state.writer;
  putRedirect(state);
  if (state.filter) state.put(REC.FILTER, state.filter);
  state.put(REC.END);
  if (state.failed) return;
  writer.flushSync();
  markRedirected(state);
  const size = state.xtraOffset - state.dataOffset;
  writer.patchSizeSync(state.sizeOffset, {
    contentSize: size,
    dataOffset: state.dataOffset,
    rcptCount: state.rcptCount,
    qmgrFlags: 0,
    contentLength: size,
    sendopts: state.flags & CLEANUP_FLAG.SMTPUTF8 ? SENDOPTS_SMTPUTF8 : 0,
  });
  if (state.flags & CLEANUP_FLAG.HOLD) await moveToHold(state);
  commitQueueFile(writer.fd, state.path, 0, state.settings.fsyncDirectory);
  state.committed = true;
}

// REDIRECT from header_checks or body_checks: the one recipient left.
// XXX Postfix writes a redirect record that qmgr applies; our qmgr has
// none, so the envelope recipients are marked done (markRedirected) and
// the new one goes in the extracted segment with the first original
// recipient as its O.
function putRedirect(state: CleanupState): void {
  if (state.redirect === undefined) return putBcc(state);
  state.put(REC.ORCP, state.firstRcpt ?? state.redirect);
  state.put(REC.RCPT, state.redirect);
  state.rcptCount++;
}

// BCC recipients go where sendmail -t puts the ones it extracts.
function putBcc(state: CleanupState): void {
  for (const rcpt of new Set(state.bccRecipients)) {
    state.put(REC.ORCP, rcpt);
    state.put(REC.RCPT, rcpt);
    state.rcptCount++;
  }
}

// Synchronous, as all of cleanup's queue-file calls but the fsync: a
// write into the page cache does not wait for the disk, and a call
// through the thread pool costs far more CPU than the write itself.
function markRedirected(state: CleanupState): void {
  if (state.redirect === undefined) return;
  const done = Buffer.from(REC.DONE);
  for (const offset of state.recipientOffsets)
    fs.writeSync(state.writer.fd, done, 0, done.length, offset);
}

// Postfix renames a held message before it is complete, so that qmgr
// never sees it in incoming/.
async function moveToHold(state: CleanupState): Promise<void> {
  state.path = await moveQueueFile(
    state.queueDir,
    state.queueId,
    QUEUE.INCOMING,
    QUEUE.HOLD,
    state.config,
  );
  state.queueName = QUEUE.HOLD;
}

function discardFile(state: CleanupState): void {
  fs.rmSync(state.path, { force: true });
}

// Once only: a second close could hit a descriptor reused meanwhile.
function closeFile(state: CleanupState): void {
  if (state.closed) return;
  state.closed = true;
  try {
    fs.closeSync(state.writer.fd);
  } catch {
    // Nothing to do: the descriptor is gone either way.
  }
}

function logFailure(state: CleanupState): void {
  if (state.protocolWhy)
    msg.warn(`${state.queueId}: message rejected: ${state.protocolWhy}`);
}

async function reply(
  stream: AttrStream,
  status: number,
  reason: string,
): Promise<void> {
  stream.writeAttrs({ status, reason });
  await stream.drain().catch(() => undefined);
}

// Serve one request on an open queue file; throws when the client went
// away or the disk failed before the commit.
async function serveRequest(
  stream: AttrStream,
  state: CleanupState,
): Promise<void> {
  await readFlags(stream, state);
  if (!state.failed) await readRecords(stream, state);
  finalChecks(state);
  if (!state.failed && !(state.flags & CLEANUP_FLAG.DISCARD))
    await commit(state);
  if (state.failed || state.flags & CLEANUP_FLAG.DISCARD) {
    logFailure(state);
    discardFile(state);
    closeFile(state);
    // CLEANUP_FLAG_BOUNCE: once the sender is told, the client is done.
    if (mayBounce(state) && (await bounceRejected(state)))
      return reply(stream, 0, '');
    return reply(stream, state.errs, state.errs ? state.reason : '');
  }
  closeFile(state);
  // The file is durable: the client need not wait for qmgr's wakeup.
  await reply(stream, 0, '');
  if (state.queueName === QUEUE.INCOMING) await wakeQmgr(state.queueDir);
}

// One trigger at a time: commits made while one is on its way share
// the next, which leaves after it. qmgr scans all of incoming/ for a
// trigger, so each file is still seen by a scan that follows its commit,
// and under load qmgr accepts one connection per batch, not per message.
let triggerRunning: Promise<void> | undefined;
let triggerNext: Promise<void> | undefined;

export function wakeQmgr(queueDir: string): Promise<void> {
  if (triggerNext) return triggerNext;
  const send = async (): Promise<void> => {
    triggerNext = undefined;
    triggerRunning = round;
    await sendTrigger(queueDir, 'public', 'qmgr', 'I');
    if (triggerRunning === round) triggerRunning = undefined;
  };
  const round = (triggerRunning ?? Promise.resolve()).then(send);
  triggerNext = round;
  return round;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// The connection handler the daemon skeleton (and tests) attach to a
// listening socket. Never throws: a failure removes the queue file and,
// when the client is still there, answers with the status bits.
export async function handleCleanupClient(
  socket: net.Socket,
  ctx: CleanupContext,
): Promise<void> {
  const stream = AttrStream.fromSocket(socket);
  // A client that stops sending must not hold a queue file for ever.
  socket.setTimeout(ctx.config.time('ipc_timeout') * 1000, () =>
    socket.destroy(),
  );
  // A client that keeps the connection asks for its next message within
  // the server's idle time (kept_connection.ts); anything else ends it.
  const since = Date.now();
  const limits = keepLimits(ctx);
  while (await serveOne(stream, ctx))
    if (!(await awaitNextRequest(stream, limits, since))) return stream.close();
}

// One message: a new queue file, its ID in the greeting, the request.
// True when the whole request was read and answered without a failure,
// so that the connection may carry another (we offer it: reuse=1).
async function serveOne(
  stream: AttrStream,
  ctx: CleanupContext,
): Promise<boolean> {
  let state: CleanupState;
  try {
    state = await CleanupState.create(ctx);
  } catch (err) {
    msg.warn(`handleCleanupClient: create queue file: ${errorText(err)}`);
    stream.destroy();
    return false;
  }
  stream.writeAttrs({
    protocol: 'cleanup_protocol',
    queue_id: state.queueId,
    reuse: 1,
  });
  try {
    await serveRequest(stream, state);
  } catch (err) {
    await abandon(stream, state, err);
    return false;
  }
  if (!state.failed) return true;
  stream.close();
  return false;
}

// The client left or the disk failed: nothing is committed, so the
// file goes; a client that is still there hears WRITE.
async function abandon(
  stream: AttrStream,
  state: CleanupState,
  err: unknown,
): Promise<void> {
  closeFile(state);
  // Once committed the message is ours, whatever happens to the client.
  if (state.committed) return stream.destroy();
  try {
    discardFile(state);
  } catch {
    // The file may be gone or the disk broken; the client hears WRITE.
  }
  if (stream.socket.destroyed || stream.socket.readableEnded) {
    msg.verbose(`${state.queueId}: client went away: ${errorText(err)}`);
    stream.destroy();
    return;
  }
  msg.warn(`${state.queueId}: write queue file: ${errorText(err)}`);
  state.fail(CLEANUP_STAT.WRITE);
  await reply(stream, CLEANUP_STAT.WRITE, '4.3.0 queue file write error');
  stream.close();
}
