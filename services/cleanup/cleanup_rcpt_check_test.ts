// Unit tests of smtpd's virtual alias RCPT verdict: a real Config with
// inline: tables; known, unknown and unrelated addresses.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'node:test';
import assert from 'node:assert/strict';
import { Config } from '../../packages/config/config';
import { ALIAS_KNOWN, virtualAliasVerdict } from './cleanup_rcpt_check';

function config(main: string): Config {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanup-rcpt-'));
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

const MAIN =
  'virtual_alias_domains = v.example\n' +
  'virtual_alias_maps = inline:{ {info@v.example=a@x.example} }\n' +
  'canonical_maps = inline:{ {old@mx.example.com=new@x.example} }';

const CASES: Array<[string, string, string | number | null]> = [
  [
    'does know an address that virtual_alias_maps has',
    'info@v.example',
    ALIAS_KNOWN,
  ],
  [
    'does know an address that canonical_maps has',
    'old@mx.example.com',
    ALIAS_KNOWN,
  ],
  [
    'does refuse a user of a virtual alias domain without a mapping',
    'nobody@v.example',
    550,
  ],
  [
    'does leave addresses of other domains to the other checks',
    'joe@mx.example.com',
    null,
  ],
];

const c = config(MAIN);

for (const [name, address, want] of CASES) {
  test(name, async () => {
    const got = await virtualAliasVerdict(c, address);
    if (typeof want === 'number') {
      assert.ok(got && typeof got === 'object');
      assert.equal(got.code, want);
      assert.equal(
        got.text,
        `<${address}>: Recipient address rejected: User unknown in virtual alias table`,
      );
      return;
    }
    assert.equal(got, want);
  });
}
