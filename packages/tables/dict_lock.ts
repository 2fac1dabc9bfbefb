// An exclusive flock(2) around a table update, as postmap and postalias
// hold one while they write (Postfix's INTERNAL_LOCK), so that two
// updates of one table run one after the other instead of losing one.
// The lock is on the source file, which a rebuild does not replace.

import * as fs from 'node:fs';

interface FsExt {
  flockSync(fd: number, how: 'ex' | 'un'): void;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const fsExt: FsExt = require('fs-ext');

export async function withTableLock<T>(
  file: string,
  work: () => Promise<T>,
): Promise<T> {
  const fd = openForLock(file);
  if (fd === undefined) return work();
  try {
    fsExt.flockSync(fd, 'ex');
    return await work();
  } finally {
    fs.closeSync(fd); // closing releases the lock
  }
}

// A table without a source file (postmap -i of a new table) has nothing
// stable to lock; it runs unlocked.
function openForLock(file: string): number | undefined {
  try {
    return fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
}
