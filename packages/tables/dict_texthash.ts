// texthash:/file reads a postmap(1) source file ("key whitespace value")
// into memory; no postmap step is needed. Used through dictOpen. Unlike
// Postfix, which needs a daemon restart, a changed file is reread on the
// next lookup after it changed.

import type { Dict, OpenContext } from './dict';
import { DICT_FLAG } from './dict';
import { reloading } from './dict_file';
import { parseMapLine, readSourceFile } from './dict_source';
import { msg } from '../log/log';

export function openTexthash(name: string, ctx: OpenContext): Dict {
  const fold = ctx.fold !== false;
  const table = reloading(name, () => loadTexthash(name, fold));
  return {
    type: 'texthash',
    name,
    flags: DICT_FLAG.FIXED,
    lookup: async (key) => table().get(key),
    close: () => undefined,
  };
}

// The first of duplicate keys wins, with Postfix's warning.
export function loadTexthash(file: string, fold: boolean): Map<string, string> {
  const table = new Map<string, string>();
  for (const line of readSourceFile(file)) {
    const entry = parseMapLine(line);
    if (!entry) {
      msg.warn(
        `${file}, line ${line.lineNo}: expected format: key whitespace value`,
      );
      continue;
    }
    const key = fold ? entry.key.toLowerCase() : entry.key;
    if (table.has(key))
      msg.warn(`${file}, line ${entry.lineNo}: duplicate entry: "${key}"`);
    else table.set(key, entry.value);
  }
  return table;
}
