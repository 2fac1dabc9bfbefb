// Change detection for file tables: a FileStamp remembers a file's inode,
// size and mtime and says when they differ, so that a table rebuilt by
// postmap (new file renamed in, or rewritten) is reopened on next use.
// Checks cost one stat() and are made at most once per CHECK_MS.

import * as fs from 'node:fs';

const CHECK_MS = 1000;

export class FileStamp {
  readonly file: string;
  #stamp: string;
  #checked = Date.now();

  constructor(file: string) {
    this.file = file;
    this.#stamp = stampOf(file);
  }

  // True once after each change; the caller then reopens the file.
  changed(now = Date.now()): boolean {
    if (now - this.#checked < CHECK_MS) return false;
    this.#checked = now;
    const stamp = stampOf(this.file);
    if (stamp === this.#stamp) return false;
    this.#stamp = stamp;
    return true;
  }

  // For callers that must not wait for the next check interval.
  forceCheck(): boolean {
    return this.changed(this.#checked + CHECK_MS);
  }
}

function stampOf(file: string): string {
  try {
    const st = fs.statSync(file, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
  } catch {
    return 'missing';
  }
}

// A value loaded from a file and loaded again after the file changed:
// for tables that parse their whole file (texthash, regexp, cidr).
export function reloading<T>(file: string, load: () => T): () => T {
  const stamp = new FileStamp(file);
  let value = load();
  return () => {
    if (stamp.changed()) value = load();
    return value;
  };
}
