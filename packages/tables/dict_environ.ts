// environ: the process environment as a table; the key is the variable
// name. Used through dictOpen.
// Known limit: names are matched as given (not folded), unlike Postfix,
// which folds them and so cannot find upper-case variables.

import type { Dict } from './dict';

export function openEnviron(name: string): Dict {
  return {
    type: 'environ',
    name,
    flags: 0,
    lookup: async (key) => process.env[key],
    close: () => undefined,
  };
}
