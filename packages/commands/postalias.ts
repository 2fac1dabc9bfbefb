#!/usr/bin/env node
// postalias(1): build, query, list and update alias databases from
// aliases(5) files; with no file, works on $alias_database.
// A thin front end; the work is in packages/tables/mkmap*.ts.

import { runMkmap } from '../tables/mkmap_cli';

runMkmap('postalias', process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`postalias: panic: ${(err as Error).message}\n`);
    process.exitCode = 2;
  },
);
