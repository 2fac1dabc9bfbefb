// Byte-level helpers shared by the indexed file tables: Postfix's key and
// value layout (with or without a trailing NUL) and durable file writes.
// A leaf module, so that table types import it without import cycles.

import * as fs from 'node:fs';

// Keys and values as Postfix stores them: with a trailing NUL when the
// table was built that way (TRY1NULL), else without (TRY0NULL).
export function encodeText(text: string, nul: boolean): Buffer {
  return Buffer.from(nul ? text + '\0' : text, 'utf8');
}

export function decodeText(data: Buffer): string {
  const end = data.length > 0 && data[data.length - 1] === 0 ? -1 : undefined;
  return data.subarray(0, end).toString('utf8');
}

export function writeDurably(file: string, data: Buffer, mode: number): void {
  const fd = fs.openSync(file, 'w', mode);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(file, mode);
}

// A rename is durable only once the directory is on disk.
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
