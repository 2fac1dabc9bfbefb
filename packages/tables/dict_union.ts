// unionmap:{ t1, t2, ... } gives every table's result joined with
// commas; pipemap:{ t1, t2, ... } feeds each result to the next table as
// its key (Postfix 3.0). Used through dictOpen; members are any tables.

import type { Dict, OpenContext } from './dict';
import { DICT_FLAG } from './dict';
import { DictSyntaxError, splitBracedList } from './dict_parse';

function openMembers(type: string, name: string, ctx: OpenContext): Dict[] {
  const specs = splitBracedList(name);
  if (specs.length === 0)
    throw new DictSyntaxError(`${type}: empty table list`);
  const members: Dict[] = [];
  try {
    for (const spec of specs)
      members.push(ctx.open(spec, { fold: ctx.fold, config: ctx.config }));
  } catch (err) {
    members.forEach((m) => m.close());
    throw err;
  }
  return members;
}

// Partial keys only make sense when every member is an exact-match table.
function memberFlags(members: Dict[]): number {
  return members.every((m) => m.flags & DICT_FLAG.FIXED)
    ? DICT_FLAG.FIXED
    : DICT_FLAG.PATTERN;
}

export function openUnion(name: string, ctx: OpenContext): Dict {
  const members = openMembers('unionmap', name, ctx);
  return {
    type: 'unionmap',
    name,
    flags: memberFlags(members),
    lookup: async (key) => {
      const found: string[] = [];
      for (const member of members) {
        const value = await member.lookup(key);
        if (value !== undefined) found.push(value);
      }
      return found.length ? found.join(',') : undefined;
    },
    close: () => members.forEach((m) => m.close()),
  };
}

export function openPipe(name: string, ctx: OpenContext): Dict {
  const members = openMembers('pipemap', name, ctx);
  return {
    type: 'pipemap',
    name,
    flags: memberFlags(members),
    lookup: async (key) => {
      let value: string | undefined = key;
      for (const member of members) {
        value = await member.lookup(value);
        if (value === undefined) return undefined;
      }
      return value;
    },
    close: () => members.forEach((m) => m.close()),
  };
}
