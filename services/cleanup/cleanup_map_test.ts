// Unit tests of canonical(5)/virtual(5) lookups: the order of keys, the
// bare user for our own domains, extensions, and pattern tables that see
// the full address only. Tables are inline: in a real Config.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'node:test';
import assert from 'node:assert/strict';
import { Config } from '../../packages/config/config';
import { Maps } from '../../packages/tables/dict';
import { AddressMap, LocalDomains, MAP_CLASS } from './cleanup_map';

function config(main: string): Config {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanup-map-'));
  try {
    fs.writeFileSync(
      path.join(dir, 'main.cf'),
      `myhostname = mx.example.com\nmydestination = $myhostname\n${main}\n`,
    );
    return Config.load({ configDir: dir });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const CASES: Array<[string, string, string, string[] | undefined]> = [
  [
    'does find the full address first',
    'inline:{ {a@x.example=full}, {@x.example=dom} }',
    'a@x.example',
    ['full'],
  ],
  [
    'does fall back to @domain',
    'inline:{ {@x.example=dom@y.example} }',
    'a@x.example',
    ['dom@y.example'],
  ],
  [
    'does give the user with an @domain result',
    'inline:{ {@x.example=@y.example} }',
    'a@x.example',
    ['a@y.example'],
  ],
  [
    'does try the bare user in our own domain',
    'inline:{ {a=u@y.example} }',
    'a@mx.example.com',
    ['u@y.example'],
  ],
  [
    'does not try the bare user in other domains',
    'inline:{ {a=u@y.example} }',
    'a@x.example',
    undefined,
  ],
  [
    'does try the address without extension and put it back',
    'inline:{ {a@x.example=b@y.example} }',
    'a+ext@x.example',
    ['b+ext@y.example'],
  ],
  [
    'does prefer the address with its extension',
    'inline:{ {a+ext@x.example=e@y.example}, {a@x.example=b@y.example} }',
    'a+ext@x.example',
    ['e@y.example'],
  ],
  [
    'does split a list result',
    'inline:{ {a@x.example=b@y.example, c@y.example} }',
    'a@x.example',
    ['b@y.example', 'c@y.example'],
  ],
  [
    'does give pattern tables the full address only',
    'regexp:{ {/^a@/ full}, {/^@x/ partial} }',
    'z@x.example',
    undefined,
  ],
];

for (const [name, table, address, want] of CASES) {
  test(name, async () => {
    const c = config('recipient_delimiter = +');
    const map = new AddressMap(
      new Maps(table, c),
      c,
      new LocalDomains(c),
      MAP_CLASS.VIRTUAL,
    );
    assert.deepEqual(await map.find(address), want);
  });
}
