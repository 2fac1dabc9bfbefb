// End-to-end: queue files that our cleanup writes are read by Debian's
// own postcat (unpacked by scripts/debian_postfix.sh) without a warning,
// and our postcat prints Postfix-written and our files exactly as
// Debian's does. Skipped where Debian's package cannot be had.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLEANUP_FLAG } from '../packages/ipc/cleanup_client';
import { queuePath } from '../packages/queue/mail_queue';
import {
  message,
  readQueueFile,
  SMTP_ATTRS,
  startCleanup,
  submit,
  type CleanupHarness,
} from '../services/cleanup/cleanup_testkit';

const ROOT = path.join(__dirname, '..', '..');
const OUR_POSTCAT = path.join(
  ROOT,
  'dist',
  'packages',
  'commands',
  'postcat.js',
);
const FIXTURES = path.join(ROOT, 'test', 'fixtures');
const FLAG_SETS = [
  [],
  ['-e'],
  ['-h'],
  ['-b'],
  ['-hb'],
  ['-o'],
  ['-d', '-e'],
  ['-v'],
];

function debianRoot(): string | null {
  const script = path.join(ROOT, 'scripts', 'debian_postfix.sh');
  const got = spawnSync('sh', [script], { encoding: 'utf8', timeout: 120_000 });
  const root = got.stdout.trim();
  if (got.status !== 0 || !fs.existsSync(path.join(root, 'usr/sbin/postcat')))
    return null;
  return root;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function debianPostcat(root: string, configDir: string, args: string[]): Run {
  return spawnSync(
    path.join(root, 'usr/sbin/postcat'),
    ['-c', configDir, ...args],
    {
      encoding: 'latin1',
      env: {
        LD_LIBRARY_PATH: path.join(root, 'usr/lib/postfix'),
        PATH: '/usr/bin:/bin',
      },
    },
  );
}

function ourPostcat(configDir: string, args: string[], cwd?: string): Run {
  return spawnSync(process.execPath, [OUR_POSTCAT, '-c', configDir, ...args], {
    encoding: 'latin1',
    cwd,
  });
}

// Messages that exercise every record cleanup writes.
async function writeSamples(h: CleanupHarness): Promise<string[]> {
  const long = 'z'.repeat(5000);
  const lines = [
    'Subject: sample',
    'To: a@example.com,',
    '\tb@example.com',
    '',
    'body',
    long,
    '.dot',
    '',
  ];
  const withExtras = message({
    attrs: SMTP_ATTRS,
    rcpts: ['a@example.com'],
    lines,
  });
  withExtras.splice(
    2,
    0,
    ['F', 'Alice Example'],
    ['n', '14'],
    ['o', 'rfc822;a@example.com'],
  );
  withExtras.splice(withExtras.length - 1, 0, ['R', 'extracted@example.com']);
  const local = message({
    attrs: ['rewrite_context=local', 'submit_uid=0'],
    sender: '',
    rcpts: ['x@example.com', 'y@example.com'],
    lines: ['no headers at all'],
  });
  const files: string[] = [];
  for (const [flags, recs] of [
    [0, withExtras],
    [0, local],
    [CLEANUP_FLAG.HOLD, withExtras],
  ] as const) {
    const got = await submit(h.queueDir, flags, [...recs]);
    assert.equal(got.status, 0, got.reason);
    const queue = flags & CLEANUP_FLAG.HOLD ? 'hold' : 'incoming';
    files.push(queuePath(h.queueDir, queue, got.queueId, h.config));
  }
  return files;
}

test('does give files Debian postcat reads in full when cleanup wrote them', async (t) => {
  const root = debianRoot();
  if (!root) return t.skip('Debian postfix package not available');
  const h = await startCleanup();
  try {
    for (const file of await writeSamples(h)) {
      const deb = debianPostcat(root, h.dir, ['-v', '-o', file]);
      assert.equal(deb.status, 0, deb.stderr);
      assert.doesNotMatch(deb.stderr, /warning|fatal/);
      // One output line per record (-v -o shows each), markers included.
      const printed = deb.stdout
        .split('\n')
        .filter((l) => /^ {0,8}\d+ /.test(l));
      const records = readQueueFile(file);
      assert.equal(printed.length, records.length, deb.stdout);
      assert.match(deb.stdout, /\*\*\* MESSAGE FILE END /);
    }
  } finally {
    await h.close();
  }
});

test('does print as Debian postcat when given the same file and flags', async (t) => {
  const root = debianRoot();
  if (!root) return t.skip('Debian postfix package not available');
  const h = await startCleanup();
  try {
    const ours = await writeSamples(h);
    const theirs = ['postfix_deferred_2rcpt', 'postfix_deferred_1done'].map(
      (f) => path.join(FIXTURES, f),
    );
    for (const file of [...ours, ...theirs]) {
      for (const flags of FLAG_SETS) {
        const deb = debianPostcat(root, h.dir, [...flags, file]);
        const got = ourPostcat(h.dir, [...flags, file]);
        assert.equal(got.stdout, deb.stdout, `${flags.join(' ')} ${file}`);
        assert.equal(got.status, deb.status);
      }
    }
  } finally {
    await h.close();
  }
});

test('does find files by queue ID when -q is given', async () => {
  const h = await startCleanup('hash_queue_names = deferred, hold');
  try {
    const [, , held] = await writeSamples(h);
    const id = path.basename(held);
    const got = ourPostcat(h.dir, ['-q', '-e', id]);
    assert.equal(got.status, 0, got.stderr);
    const rel = path.relative(h.queueDir, held);
    assert.ok(
      got.stdout.startsWith(`*** ENVELOPE RECORDS ${rel} ***\n`),
      got.stdout,
    );
    const table: Array<[string, RegExp]> = [
      [
        'ABCDEF123',
        /^postcat: fatal: open queue file ABCDEF123: No such file or directory\n$/,
      ],
      ['../etc', /^postcat: fatal: bad mail queue ID: \.\.\/etc\n$/],
    ];
    for (const [bad, want] of table) {
      const run = ourPostcat(h.dir, ['-q', bad]);
      assert.equal(run.status, 1);
      assert.match(run.stderr, want);
    }
  } finally {
    await h.close();
  }
});
