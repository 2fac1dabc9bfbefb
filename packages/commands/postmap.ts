#!/usr/bin/env node
// postmap(1): build, query, list and update Postfix lookup tables
// ("postmap lmdb:/etc/postfix/transport", "postmap -q key cdb:/x").
// A thin front end; the work is in packages/tables/mkmap*.ts.

import { runMkmap } from '../tables/mkmap_cli';

runMkmap('postmap', process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`postmap: panic: ${(err as Error).message}\n`);
    process.exitCode = 2;
  },
);
