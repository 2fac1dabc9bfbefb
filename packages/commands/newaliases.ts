#!/usr/bin/env node
// newaliases(1): rebuild the alias databases named by $alias_database,
// as "postalias $alias_database" (and sendmail -I) do. Accepts -c dir
// and -v, which it passes on.

import { runMkmap } from '../tables/mkmap_cli';

runMkmap('postalias', process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`newaliases: panic: ${(err as Error).message}\n`);
    process.exitCode = 2;
  },
);
