// Tests of regexp:, pcre:, cidr:, unionmap: and pipemap: tables on real
// files in a temporary folder.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dictOpen } from './dict';
import { initLog } from '../log/log';

const logged: string[] = [];
initLog({ processName: 'dict_regexp_test', sinks: [(l) => logged.push(l)] });

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'regexp-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

function table(name: string, lines: string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

const RULES = [
  '# comment',
  '/^(.*)@old\\.example$/   $1@new.example',
  '/^CaseTest$/             insensitive',
  '/^Exact$/i               sensitive',
  '!/@/                     no-at-sign',
  'if /\\.test$/',
  '/^a@/                    inside-if',
  'endif',
  '/^a@/                    after-if',
  '/^(x)(y)?$/              [${1}][$2][$$]',
  '/^long/                  first',
  '  continued',
];

const regexpFile = table('regexp', RULES);
const pcreFile = table('pcre', RULES);

const CASES = [
  { key: 'joe@old.example', want: 'joe@new.example' },
  { key: 'casetest', want: 'insensitive' },
  { key: 'Exact', want: 'sensitive' },
  { key: 'exact', want: 'no-at-sign' },
  { key: 'a@b.test', want: 'inside-if' },
  { key: 'a@b.example', want: 'after-if' },
  { key: 'x@q', want: undefined },
  { key: 'long@x', want: 'first continued' },
];

for (const type of ['regexp', 'pcre']) {
  for (const c of CASES) {
    test(`does return ${c.want} when ${type} is asked ${c.key}`, async () => {
      const dict = dictOpen(
        `${type}:${type === 'regexp' ? regexpFile : pcreFile}`,
      );
      assert.equal(await dict.lookup(c.key), c.want);
      dict.close();
    });
  }
}

test('does substitute empty text for groups that did not match', async () => {
  const dict = dictOpen('regexp:{ {/^(x)(y)?$/ [${1}][$2][$$]} }');
  assert.equal(await dict.lookup('x'), '[x][][$]');
  dict.close();
});

test('does read rules from braces when the regexp table is inline', async () => {
  const dict = dictOpen('regexp:{ {/^a/ A}, {/^b/ B} }');
  assert.equal(await dict.lookup('bee'), 'B');
  dict.close();
});

test('does warn and skip a rule when the pattern does not compile', async () => {
  const file = table('bad', [
    '/(unclosed/ x',
    '/fine/ ok',
    'no delimiter here',
  ]);
  const dict = dictOpen(`regexp:${file}`);
  assert.equal(await dict.lookup('fine'), 'ok');
  dict.close();
  assert.ok(
    logged.some((l) =>
      l.includes(`regexp map ${file}, line 1: error compiling`),
    ),
  );
  assert.ok(
    logged.some((l) =>
      l.includes(`regexp map ${file}, line 3: ignoring unrecognized request`),
    ),
  );
});

test('does honour pcre flags when s, x and A are given', async () => {
  const dict = dictOpen(
    'pcre:{ {/a . b/x spaced}, {/^c.d$/s dotall}, {/mid/A anchored} }',
  );
  assert.equal(await dict.lookup('a-b'), 'spaced');
  assert.equal(await dict.lookup('c\nd'), 'dotall');
  assert.equal(await dict.lookup('xmid'), undefined);
  assert.equal(await dict.lookup('midx'), 'anchored');
  dict.close();
});

test('does refuse the ungreedy pcre flag with a warning', async () => {
  const dict = dictOpen('pcre:{ {/a+/U x} }');
  assert.equal(await dict.lookup('aaa'), undefined);
  dict.close();
  assert.ok(logged.some((l) => l.includes('unsupported pcre option "U"')));
});

test('does translate POSIX classes when regexp uses them', async () => {
  const dict = dictOpen('regexp:{ {/^[[:digit:]]+$/ number} }');
  assert.equal(await dict.lookup('2026'), 'number');
  assert.equal(await dict.lookup('20x6'), undefined);
  dict.close();
});

const cidrFile = table('cidr', [
  '192.0.2.0/24        net-v4',
  '198.51.100.7        exact-v4',
  '2001:db8::/32       net-v6',
  '[2001:db9::1]       exact-v6',
  'if 203.0.113.0/24',
  '!203.0.113.128/25   low-half',
  'endif',
  '10.1.2.3/8          bad-host-bits',
  '::ffff:10.0.0.0/104 mapped',
]);

const CIDR_CASES = [
  { key: '192.0.2.55', want: 'net-v4' },
  { key: '198.51.100.7', want: 'exact-v4' },
  { key: '198.51.100.8', want: undefined },
  { key: '2001:db8:1::5', want: 'net-v6' },
  { key: '2001:DB9::1', want: 'exact-v6' },
  { key: '203.0.113.5', want: 'low-half' },
  { key: '203.0.113.200', want: undefined },
  { key: '10.1.2.3', want: undefined },
  { key: '::ffff:10.9.9.9', want: 'mapped' },
  { key: 'not-an-address', want: undefined },
];

for (const c of CIDR_CASES) {
  test(`does return ${c.want} when cidr is asked ${c.key}`, async () => {
    const dict = dictOpen(`cidr:${cidrFile}`);
    assert.equal(await dict.lookup(c.key), c.want);
    dict.close();
  });
}

test('does warn with the right network when host bits are set', () => {
  dictOpen(`cidr:${cidrFile}`).close();
  assert.ok(
    logged.some((l) =>
      l.includes(
        'non-null host address bits in "10.1.2.3/8", perhaps you should use "10.0.0.0/8" instead',
      ),
    ),
  );
});

test('does join every result when unionmap is asked', async () => {
  const dict = dictOpen('unionmap:{ inline:{a=1}, static:two, inline:{b=3} }');
  assert.equal(await dict.lookup('a'), '1,two');
  dict.close();
});

test('does feed results along when pipemap is asked', async () => {
  const dict = dictOpen('pipemap:{ inline:{a=b}, inline:{b=c} }');
  assert.equal(await dict.lookup('a'), 'c');
  assert.equal(await dict.lookup('b'), undefined);
  dict.close();
});

test('does reparse a regexp file when it changes', async () => {
  const file = table('changing', ['/^a$/ old']);
  const dict = dictOpen(`regexp:${file}`);
  assert.equal(await dict.lookup('a'), 'old');
  table('changing', ['/^a$/ new, longer']);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.equal(await dict.lookup('a'), 'new, longer');
  dict.close();
});
