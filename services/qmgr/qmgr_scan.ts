// Scanning a queue directory (flat or hashed) for queue files ready for
// the active queue: complete (mode 0700) and not cooling down (mtime not
// in the future, unless the A trigger said to ignore time stamps).
// Used by the queue manager for incoming/ and deferred/.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { isQueueFileReady } from '../../packages/queue/queue_file';

// Queue IDs are letters and digits; anything else (cleanup's temporary
// names hold dots) is not ours to take.
const QUEUE_ID = /^[A-Za-z0-9]+$/;

// Hashed subdirectories are one character each; deeper is not ours.
const MAX_DEPTH = 10;

export interface ScanOptions {
  ignoreTime: boolean;
  now: number; // seconds
  limit: number;
}

// Synchronous: a directory listing and a stat per file are single system
// calls on a local file system, far cheaper in CPU than the thread pool's
// round trip for each.
async function listDir(dir: string): Promise<fs.Dirent[]> {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function isEligible(file: string, opts: ScanOptions): Promise<boolean> {
  try {
    const st = fs.statSync(file);
    if (!isQueueFileReady(st)) return false;
    // Whole seconds, as Postfix compares time_t: a file system clock a
    // few milliseconds ahead must not make a just-committed file look
    // like one cooling down, or it would wait for the next queue run.
    return (
      opts.ignoreTime || Math.floor(st.mtimeMs / 1000) <= Math.floor(opts.now)
    );
  } catch {
    return false; // gone meanwhile
  }
}

// Queue IDs of ready files under dir, at most opts.limit of them.
export async function scanQueue(
  dir: string,
  opts: ScanOptions,
  depth = 0,
): Promise<string[]> {
  const found: string[] = [];
  for (const ent of await listDir(dir)) {
    if (found.length >= opts.limit) break;
    const where = path.join(dir, ent.name);
    if (ent.isDirectory() && ent.name.length === 1 && depth < MAX_DEPTH) {
      const rest = { ...opts, limit: opts.limit - found.length };
      found.push(...(await scanQueue(where, rest, depth + 1)));
    } else if (ent.isFile() && QUEUE_ID.test(ent.name)) {
      if (await isEligible(where, opts)) found.push(ent.name);
    }
  }
  return found;
}
