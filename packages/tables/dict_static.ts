// static:value and static:{ text with space }: every lookup returns the
// same value (Postfix's dict_static). Used through dictOpen.

import type { Dict } from './dict';
import { DICT_FLAG } from './dict';
import { stripBraces } from './dict_parse';

export function openStatic(name: string): Dict {
  const value = stripBraces(name);
  return {
    type: 'static',
    name,
    flags: DICT_FLAG.FIXED,
    lookup: async () => value,
    close: () => undefined,
  };
}
