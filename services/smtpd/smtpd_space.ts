// Free space in the queue file system, checked at MAIL FROM as Postfix's
// smtpd does: under queue_minfree, or under 1.5 times message_size_limit
// (or the SIZE= the client announced, when larger), the answer is 452
// 4.3.1 and a warning. Used by smtpd_proto.ts. Limits: a file system
// that fills during DATA is reported by cleanup, not here.

import * as fs from 'node:fs';
import { msg } from '../../packages/log/log';
import { Reply, reply } from './smtpd_chat';

export function checkQueueSpace(
  queueDir: string,
  minFree: number,
  sizeLimit: number,
  announced: number,
): Reply | null {
  let free: number;
  try {
    const st = fs.statfsSync(queueDir);
    free = st.bavail * st.bsize;
  } catch (err) {
    msg.warn(`checkQueueSpace: statfs ${queueDir}: ${(err as Error).message}`);
    return null;
  }
  const need = Math.max(minFree, 1.5 * Math.max(sizeLimit, announced));
  if (free >= need) return null;
  msg.warn(
    `not enough free space in mail queue: ${free} bytes < ${need} bytes`,
  );
  return reply(452, '4.3.1', 'Insufficient system storage');
}
