// Tests of the master.cf parser (master_cf.ts): columns and defaults,
// -o overrides, { } grouping, continuation lines, errors that name the
// file and line, and the check that each command exists.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  checkCommands,
  parseInetService,
  parseMasterCf,
  readMasterCf,
} from './master_cf';

const FILE = '/etc/postfix/master.cf';

const SAMPLE = [
  '# service type private unpriv chroot wakeup maxproc command',
  'smtp      inet  n       -       n       -       -       smtpd',
  'pickup    unix  n       -       n       60      1       pickup',
  '',
  'flush     unix  n       -       n       1000?   0       flush',
  'local     unix  -       n       n       -       -       local -v',
  '127.0.0.1:2525 inet n - n - 4 smtpd',
  '  -o syslog_name=postfix/test',
  '  # a comment does not end the entry',
  '  -o { smtpd_banner = $myhostname ESMTP ready }',
  '  -o smtpd_client_restrictions= { arg with spaces } {}',
].join('\n');

test('reads the eight columns with their defaults', () => {
  const entries = parseMasterCf(SAMPLE, FILE, { defaultProcessLimit: 42 });
  const smtp = entries[0];
  assert.deepEqual(
    [smtp.name, smtp.type, smtp.private, smtp.unpriv, smtp.chroot],
    ['smtp', 'inet', false, true, false],
  );
  assert.deepEqual([smtp.wakeup, smtp.maxproc, smtp.command], [0, 42, 'smtpd']);
  assert.equal(smtp.line, 2);
  const pickup = entries[1];
  assert.deepEqual([pickup.wakeup, pickup.maxproc], [60, 1]);
  const flush = entries[2];
  assert.deepEqual([flush.wakeup, flush.wakeupConditional], [1000, true]);
  assert.equal(flush.maxproc, 0);
  const local = entries[3];
  assert.deepEqual(
    [local.private, local.unpriv, local.args],
    [true, false, ['-v']],
  );
});

test('reads -o overrides across continuation lines', () => {
  const entry = parseMasterCf(SAMPLE, FILE)[4];
  assert.equal(entry.name, '127.0.0.1:2525');
  assert.equal(entry.line, 7);
  assert.deepEqual(entry.overrides, {
    syslog_name: 'postfix/test',
    smtpd_banner: '$myhostname ESMTP ready',
    smtpd_client_restrictions: '',
  });
  assert.deepEqual(entry.args, ['arg with spaces', '']);
});

test('keeps the last of two entries with the same name and type', () => {
  const warnings: string[] = [];
  const text =
    'a unix - - n - - one\na unix - - n - - two\na inet n - n - - three\n';
  const entries = parseMasterCf(text, FILE, { warn: (w) => warnings.push(w) });
  assert.deepEqual(
    entries.map((e) => e.command),
    ['two', 'three'],
  );
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /^\/etc\/postfix\/master\.cf, line 2: /);
});

const BAD_LINES: [string, string][] = [
  ['smtp', 'missing "transport type" field'],
  ['smtp inet n - n - -', 'missing "command" field'],
  ['smtp tcp n - n - - smtpd', 'bad transport type: tcp'],
  ['smtp inet y - n - - smtpd', 'inet service cannot be private'],
  ['smtp inet x - n - - smtpd', 'field "private": bad value: "x"'],
  ['smtp inet n yes n - - smtpd', 'field "unprivileged": bad value: "yes"'],
  ['smtp inet n - 1 - - smtpd', 'field "chroot": bad value: "1"'],
  ['qmgr unix n - n 5m 1 qmgr', 'field "wakeup_time": bad value: "5m"'],
  ['smtp inet n - n - many smtpd', 'field "max_proc": bad value: "many"'],
  ['smtp inet n - n - - smtpd -o', 'option -o requires name=value'],
  [
    'smtp inet n - n - - smtpd -o novalue',
    'bad -o argument: "novalue": need name=value',
  ],
  ['smtp inet n - n - - smtpd { open', `missing '}' in "{ open"`],
];

for (const [line, message] of BAD_LINES) {
  test(`names file and line when "${line}"`, () => {
    const text = `# header\n\n${line}\n`;
    assert.throws(() => parseMasterCf(text, FILE), {
      name: 'ConfigError',
      message: `${FILE}, line 3: ${message}`,
    });
  });
}

const INET: [string, { host?: string; port: string }][] = [
  ['smtp', { port: 'smtp' }],
  ['2525', { port: '2525' }],
  ['127.0.0.1:2525', { host: '127.0.0.1', port: '2525' }],
  ['[::1]:25', { host: '::1', port: '25' }],
  ['localhost:smtp', { host: 'localhost', port: 'smtp' }],
];

for (const [service, want] of INET) {
  test(`splits inet service ${service} into host and port`, () => {
    assert.deepEqual(parseInetService(service), want);
  });
}

test('reports a command missing under daemon_directory', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'master-cf-test-'));
  try {
    fs.mkdirSync(path.join(dir, 'smtpd'));
    fs.writeFileSync(path.join(dir, 'smtpd', 'smtpd.js'), '');
    const text = 'smtp inet n - n - - smtpd\nfoo unix - - n - - nosuch\n';
    const file = path.join(dir, 'master.cf');
    fs.writeFileSync(file, text);
    const { entries } = readMasterCf(dir);
    assert.throws(() => checkCommands(entries, dir, file), {
      message:
        `${file}, line 2: unknown command: nosuch: ` +
        `${dir}/nosuch/nosuch.js: No such file or directory`,
    });
    checkCommands(entries.slice(0, 1), dir, file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('parses the shipped master.cf', () => {
  const shipped = path.join(__dirname, '..', '..', '..', 'master.cf');
  const entries = parseMasterCf(fs.readFileSync(shipped, 'utf8'), shipped);
  const keys = entries.map((entry) => `${entry.name}/${entry.type}`);
  for (const key of [
    'smtp/inet',
    'pickup/unix',
    'qmgr/unix',
    'postlog/unix-dgram',
  ])
    assert.ok(keys.includes(key), key);
  // Every line runs a daemon we build, or one master serves itself.
  const daemons = path.join(__dirname, '..', '..', 'services');
  assert.doesNotThrow(() => checkCommands(entries, daemons, shipped));
});
