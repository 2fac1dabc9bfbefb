// qmgr's checks of a message's status logs (defer/ID, bounce/ID,
// trace/ID) where they are almost never there. A stat that may find
// nothing costs one system call and no exception; an unlink or a read of
// a missing file threw one each (measured in qmgr: 22 and 73 us of CPU,
// five times per message), and the asynchronous calls of status_log.ts
// cost a thread-pool round trip as well. Used by qmgr_active.ts and
// qmgr_manager.ts; appends stay in status_log.ts.

import * as fs from 'node:fs';
import {
  parseStatusLog,
  statusLogPath,
  type StatusLogName,
  type StatusRecord,
} from '../../packages/queue/status_log';
import type { QmgrConfig } from './qmgr_config';

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

// Remove one log; false when it was not there.
export function dropStatusLog(
  queueDir: string,
  log: StatusLogName,
  queueId: string,
  config: QmgrConfig,
): boolean {
  const file = statusLogPath(queueDir, log, queueId, config);
  if (!isThere(file)) return false;
  try {
    fs.unlinkSync(file);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

// Other errors than a missing name still throw, as the unlink would.
function isThere(file: string): boolean {
  return fs.statSync(file, { throwIfNoEntry: false }) !== undefined;
}

// The log's records; none when it is not there.
export function readStatusLogNow(
  queueDir: string,
  log: StatusLogName,
  queueId: string,
  config: QmgrConfig,
): StatusRecord[] {
  const file = statusLogPath(queueDir, log, queueId, config);
  if (!isThere(file)) return [];
  try {
    return parseStatusLog(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}
