// qmgr's checks of a message's status logs (defer/ID, bounce/ID,
// trace/ID) where they are almost never there. A synchronous unlink or
// read of a missing file costs one system call; the asynchronous calls
// of status_log.ts cost a thread-pool round trip and an error each.
// Used by qmgr_active.ts and qmgr_manager.ts; appends stay in status_log.ts.

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
  try {
    fs.unlinkSync(statusLogPath(queueDir, log, queueId, config));
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

// The log's records; none when it is not there.
export function readStatusLogNow(
  queueDir: string,
  log: StatusLogName,
  queueId: string,
  config: QmgrConfig,
): StatusRecord[] {
  try {
    const file = statusLogPath(queueDir, log, queueId, config);
    return parseStatusLog(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}
