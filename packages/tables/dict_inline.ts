// inline:{ key=value, { key = value with space } }: a read-only table
// written in the parameter itself (Postfix 3.0 and later). Used through
// dictOpen; an element without "=" is a syntax error, as in Postfix.

import type { Dict, OpenContext } from './dict';
import { DICT_FLAG } from './dict';
import { DictSyntaxError, splitBracedList } from './dict_parse';

export function openInline(name: string, ctx: OpenContext): Dict {
  const table = new Map<string, string>();
  for (const item of splitBracedList(name)) {
    const eq = item.indexOf('=');
    if (eq < 0)
      throw new DictSyntaxError(`expected name=value instead of "${item}"`);
    const key = item.slice(0, eq).trim();
    const folded = ctx.fold === false ? key : key.toLowerCase();
    if (!table.has(folded)) table.set(folded, item.slice(eq + 1).trim());
  }
  return {
    type: 'inline',
    name,
    flags: DICT_FLAG.FIXED,
    lookup: async (key) => table.get(key),
    close: () => table.clear(),
  };
}
