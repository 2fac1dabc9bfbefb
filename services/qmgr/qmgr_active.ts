// Moving queue files in and out of active/: crash recovery at start,
// taking a file in, and the three ways out (removed when done, deferred/
// with an age-based backoff time stamp, corrupt/). Every move is synced
// by mail_queue.ts before qmgr acts on it. Used by the queue manager.

import * as fs from 'node:fs';
import {
  moveQueueFile,
  QUEUE,
  queuePath,
} from '../../packages/queue/mail_queue';
import { STATUS_LOG } from '../../packages/queue/status_log';
import { msg } from '../../packages/log/log';
import type { QmgrConfig } from './qmgr_config';
import { scanQueue } from './qmgr_scan';
import { dropStatusLog } from './qmgr_status_log';

// After a crash or kill, files left in active/ go back to incoming/ with
// the time stamp now, so that the first incoming scan takes them again.
// Recipients already marked done are not sent again (queue_file.ts).
export async function recoverActive(
  queueDir: string,
  config: QmgrConfig,
): Promise<number> {
  const now = Date.now() / 1000;
  const opts = { ignoreTime: true, now, limit: Infinity };
  const ids = await scanQueue(`${queueDir}/${QUEUE.ACTIVE}`, opts);
  for (const id of ids) {
    const to = await moveQueueFile(
      queueDir,
      id,
      QUEUE.ACTIVE,
      QUEUE.INCOMING,
      config,
    );
    await fs.promises.utimes(to, now, now);
  }
  return ids.length;
}

// Take a file into active/; null when another process took it first.
// A rename on the event loop costs one system call, where the thread
// pool's round trip costs several times its CPU; the slow cases (a hashed
// level to make, a file gone) take mail_queue.ts's way.
export async function activate(
  queueDir: string,
  id: string,
  from: string,
  config: QmgrConfig,
): Promise<string | null> {
  const to = queuePath(queueDir, QUEUE.ACTIVE, id, config);
  try {
    fs.renameSync(queuePath(queueDir, from, id, config), to);
    return to;
  } catch {
    // Fall through to the general move, which tells the cases apart.
  }
  try {
    return await moveQueueFile(queueDir, id, from, QUEUE.ACTIVE, config);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

// An agent still delivers from this file (a qmgr restart while agents
// ran): leave it where it came from, cooling down for a minute, as
// Postfix does, so that no recipient goes out twice.
const LOCKED_RETRY = 60;

export async function putBack(
  queueDir: string,
  id: string,
  to: string,
  config: QmgrConfig,
): Promise<void> {
  const retryAt = Date.now() / 1000 + LOCKED_RETRY;
  const file = queuePath(queueDir, QUEUE.ACTIVE, id, config);
  await fs.promises.utimes(file, retryAt, retryAt);
  await moveQueueFile(queueDir, id, QUEUE.ACTIVE, to, config);
}

export async function saveCorrupt(
  queueDir: string,
  id: string,
  why: string,
  config: QmgrConfig,
): Promise<void> {
  msg.warn(`${id}: ${why}`);
  msg.warn(
    `saving corrupt file "${id}" from queue "${QUEUE.ACTIVE}" ` +
      `to queue "${QUEUE.CORRUPT}"`,
  );
  await moveQueueFile(queueDir, id, QUEUE.ACTIVE, QUEUE.CORRUPT, config);
}

// Age-based backoff (Postfix's qmgr_active_done): the time already spent
// in the queue, clamped to [minimal_backoff_time, maximal_backoff_time].
export function backoffDelay(
  age: number,
  minBackoff: number,
  maxBackoff: number,
): number {
  return Math.min(maxBackoff, Math.max(minBackoff, age));
}

// The time stamp says when the message may be tried again: the deferred
// scan skips it until then. utimes comes first, so that a crash between
// the two steps leaves a cooling file in active/, not a hot one in
// deferred/.
export async function deferToQueue(
  queueDir: string,
  id: string,
  retryAt: number,
  config: QmgrConfig,
): Promise<void> {
  const file = queuePath(queueDir, QUEUE.ACTIVE, id, config);
  await fs.promises.utimes(file, retryAt, retryAt);
  await moveQueueFile(queueDir, id, QUEUE.ACTIVE, QUEUE.DEFERRED, config);
}

// Called when every recipient is done and any bounce was sent. The logs
// go first: stale logs left by a crash would be inherited by a later
// message that gets the same queue ID (inode); a file left behind with
// all recipients done is simply removed again after a restart.
export async function removeMessage(
  queueDir: string,
  id: string,
  config: QmgrConfig,
): Promise<void> {
  for (const log of Object.values(STATUS_LOG))
    dropStatusLog(queueDir, log, id, config);
  try {
    fs.unlinkSync(queuePath(queueDir, QUEUE.ACTIVE, id, config));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  msg.info(`${id}: removed`);
}
