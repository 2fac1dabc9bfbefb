// End-to-end tests of local submission: sendmail and postdrop as real
// processes, pickup's scan, and a real cleanup writing incoming/. Shows
// the sendmail flags (-t -i -f -F -N -R -V -bs -bp), maildrop modes,
// pickup's Received: and log line, and the exit codes for bad input.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  runCommand,
  startSubmitInstance,
  queueNames,
  type SubmitInstance,
} from '../packages/commands/submit_testkit';
import {
  contentLines,
  readQueueFile,
} from '../services/cleanup/cleanup_testkit';

async function withInstance(
  fn: (h: SubmitInstance) => Promise<void>,
): Promise<void> {
  const h = await startSubmitInstance();
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

function records(file: string, type: string): string[] {
  return readQueueFile(file)
    .filter((r) => r.type === type)
    .map((r) => r.data.toString());
}

async function submitOne(
  h: SubmitInstance,
  args: string[],
  input: string,
): Promise<string> {
  const r = await h.sendmail(args, { input });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await h.pickup(), 1);
  const files = h.incoming();
  assert.equal(files.length, 1);
  return files[0];
}

test('sendmail -t takes To/Cc/Bcc recipients and removes Bcc when given headers', () =>
  withInstance(async (h) => {
    const msg =
      'To: a@x.example\nCc: "B B" <b@x.example>\nBcc: c@x.example,\n d@x.example\nSubject: s\n\nbody\n';
    const file = await submitOne(h, ['-t', '-i'], msg);
    assert.deepEqual(records(file, 'R'), [
      'a@x.example',
      'b@x.example',
      'c@x.example',
      'd@x.example',
    ]);
    const lines = contentLines(file);
    assert.ok(!lines.some((l) => /^bcc:|^ d@x/i.test(l)), lines.join('\n'));
    assert.ok(lines.includes('Cc: "B B" <b@x.example>'));
  }));

test('sendmail stops at a lone dot unless -i or -oi is given', () =>
  withInstance(async (h) => {
    const input = 'Subject: s\n\none\n.\ntwo\n';
    for (const [args, hasTwo] of [
      [[], false],
      [['-i'], true],
      [['-oi'], true],
    ] as const) {
      const file = await submitOne(h, [...args, 'r@x.example'], input);
      assert.equal(contentLines(file).includes('two'), hasTwo, args.join(' '));
      fs.rmSync(file);
    }
  }));

test('sendmail writes the envelope options when given -f -F -N -R -V', () =>
  withInstance(async (h) => {
    const args = [
      '-fme@x.example',
      '-F',
      'Ann Other',
      '-N',
      'success,failure',
      '-R',
      'full',
      '-V',
      'ENV42',
      'r@y.example',
    ];
    const file = await submitOne(h, args, 'Subject: s\n\nb\n');
    assert.deepEqual(records(file, 'S'), ['me@x.example']);
    assert.deepEqual(records(file, 'F'), ['Ann Other']);
    const attrs = records(file, 'A');
    for (const want of ['envelope_id=ENV42', 'ret_flags=1', 'notify_flags=6'])
      assert.ok(attrs.includes(want), `${want} in ${attrs.join(' ')}`);
    assert.ok(contentLines(file).includes('From: Ann Other <me@x.example>'));
  }));

test('sendmail -f "<>" and -r give the sender when programs use them', () =>
  withInstance(async (h) => {
    let file = await submitOne(h, ['-f', '<>', 'r@y.example'], 'S: x\n\nb\n');
    assert.deepEqual(records(file, 'S'), ['']);
    fs.rmSync(file);
    file = await submitOne(
      h,
      ['-r', 'bounce@x.example', 'r@y.example'],
      'S: x\n\nb\n',
    );
    assert.deepEqual(records(file, 'S'), ['bounce@x.example']);
  }));

test('pickup adds Received: from userid and logs uid and from when it takes a file', () =>
  withInstance(async (h) => {
    const file = await submitOne(
      h,
      ['-f', 'me@x.example', 'r@y.example'],
      'Subject: s\n\nb\n',
    );
    const uid = process.getuid!();
    const lines = contentLines(file);
    assert.equal(
      lines[0],
      `Received: by mx.example.com (Postfix, from userid ${uid})`,
    );
    const id = path.basename(file);
    assert.ok(
      h.logs.some((l) => l.endsWith(`: ${id}: uid=${uid} from=<me@x.example>`)),
      h.logs.join('\n'),
    );
    assert.deepEqual(queueNames(h.queueDir, 'maildrop'), []);
  }));

test('postdrop leaves a maildrop file of mode 0744 owned by the user when done', () =>
  withInstance(async (h) => {
    const r = await h.sendmail(['r@y.example'], { input: 'S: x\n\nb\n' });
    assert.equal(r.code, 0, r.stderr);
    const [name] = queueNames(h.queueDir, 'maildrop');
    const st = fs.statSync(path.join(h.queueDir, 'maildrop', name));
    assert.equal(st.mode & 0o7777, 0o744);
    assert.equal(st.uid, process.getuid!());
  }));

test('sendmail keeps mail in maildrop while the mail system is down and it goes out once it starts', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'submit-down-'));
  try {
    const before = await startSubmitInstance('', dir);
    await before.close(); // the mail system is down: no cleanup socket
    const r = await before.sendmail(['r@y.example'], {
      input: 'Subject: down\n\nb\n',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await before.pickup(), 0);
    assert.equal(queueNames(before.queueDir, 'maildrop').length, 1);
    const after = await startSubmitInstance('', dir);
    try {
      assert.equal(await after.pickup(), 1);
      assert.equal(after.incoming().length, 1);
      assert.deepEqual(queueNames(after.queueDir, 'maildrop'), []);
    } finally {
      await after.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// A client that waits for each reply before the next command, as
// programs that use -bs do.
async function smtpDialogue(
  h: SubmitInstance,
  commands: string[],
): Promise<{ code: number | null; replies: string }> {
  const { spawn } = await import('node:child_process');
  const sendmail = path.join(
    __dirname,
    '..',
    'packages',
    'commands',
    'sendmail.js',
  );
  const child = spawn(process.execPath, [sendmail, '-bs'], {
    env: { ...process.env, MAIL_CONFIG: h.configDir },
  });
  let replies = '';
  let next = 0;
  child.stdout.on('data', (c: Buffer) => {
    replies += c.toString();
    const last = replies.split('\r\n').at(-2) ?? '';
    if (
      /^\d{3} /.test(last) &&
      next < commands.length &&
      replies.endsWith('\r\n')
    )
      child.stdin.write(commands[next++]);
  });
  const code = await new Promise<number | null>((r) => child.on('close', r));
  return { code, replies };
}

test('sendmail -bs takes a message over SMTP on standard input and output', () =>
  withInstance(async (h) => {
    const { code, replies } = await smtpDialogue(h, [
      'HELO me\r\n',
      'MAIL FROM:<me@x.example>\r\n',
      'RCPT TO:<r@y.example>\r\n',
      'DATA\r\n',
      'Subject: bs\r\n\r\nhi\r\n.\r\n',
      'QUIT\r\n',
    ]);
    assert.equal(code, 0, replies);
    assert.match(replies, /^220 /);
    assert.match(replies, /250 2\.0\.0 Ok: queued as [0-9A-F]+\r\n/);
    assert.match(replies, /221 2\.0\.0 Bye\r\n$/);
    assert.equal(await h.pickup(), 1);
    const [file] = h.incoming();
    assert.deepEqual(records(file, 'R'), ['r@y.example']);
    assert.ok(contentLines(file).includes('Subject: bs'));
  }));

test('mailq and sendmail -bp print the queue as postqueue -p does', () =>
  withInstance(async (h) => {
    await h.sendmail(['-f', 'me@x.example', 'r@y.example'], {
      input: 'S: x\n\nb\n',
    });
    const viaBp = await h.sendmail(['-bp']);
    const viaMailq = await runCommand(h.configDir, 'mailq', []);
    assert.equal(viaBp.code, 0, viaBp.stderr);
    assert.match(viaBp.stdout, /^-Queue ID- /);
    assert.match(viaBp.stdout, /me@x\.example\n {41}r@y\.example\n/);
    assert.equal(viaMailq.stdout, viaBp.stdout);
  }));

test('sendmail -bi rebuilds the alias database as newaliases does', () =>
  withInstance(async (h) => {
    const aliases = path.join(h.dir, 'aliases');
    fs.writeFileSync(aliases, 'postmaster: root\n');
    fs.appendFileSync(
      path.join(h.dir, 'main.cf'),
      `alias_database = cdb:${aliases}\nalias_maps = cdb:${aliases}\n`,
    );
    const r = await h.sendmail(['-bi']);
    assert.equal(r.code, 0, r.stderr);
  }));

test('sendmail exits 77 when authorized_submit_users leaves the user out', async () => {
  const me = os.userInfo().username;
  const h = await startSubmitInstance(
    `authorized_submit_users = !${me}, static:anyone`,
  );
  try {
    const r = await h.sendmail(['r@y.example'], { input: 'S: x\n\nb\n' });
    assert.equal(r.code, 77);
    assert.equal(
      r.stderr,
      `sendmail: fatal: User ${me}(${process.getuid!()}) is not allowed to submit mail\n`,
    );
    assert.deepEqual(queueNames(h.queueDir, 'maildrop'), []);
  } finally {
    await h.close();
  }
});

test('sendmail exits 75 naming the cause when maildrop/ cannot be written', async () => {
  const h = await startSubmitInstance();
  try {
    const missing = path.join(h.dir, 'no-such-queue');
    fs.appendFileSync(
      path.join(h.dir, 'main.cf'),
      `queue_directory = ${missing}\n`,
    );
    const r = await h.sendmail(['r@y.example'], { input: 'S: x\n\nb\n' });
    assert.equal(r.code, 75);
    assert.match(r.stderr, /^postdrop: fatal: create file maildrop\/: /m);
    assert.match(
      r.stderr,
      /^sendmail: fatal: \S+\(\d+\): unable to queue mail: postdrop failed\n$/m,
    );
  } finally {
    await h.close();
  }
});

const EXITS: Array<[string, string[], string, number, RegExp]> = [
  [
    'no recipients',
    [],
    'S: x\n\nb\n',
    64,
    /Recipient addresses must be specified/,
  ],
  [
    '-t without recipient headers',
    ['-t'],
    'Subject: x\n\nb\n',
    64,
    /No recipient addresses found in message header/,
  ],
  [
    'a malformed sender',
    ['-f', 'a b@x', 'r@x'],
    'S: x\n\nb\n',
    64,
    /-f option specified malformed address/,
  ],
  [
    'a control character in a recipient',
    ['r\x01@x'],
    'S: x\n\nb\n',
    65,
    /bad address syntax/,
  ],
  ['an unknown option', ['-y', 'r@x'], '', 64, /invalid option -- 'y'/],
];

for (const [what, args, input, code, text] of EXITS)
  test(`sendmail exits ${code} with a message when given ${what}`, () =>
    withInstance(async (h) => {
      const r = await h.sendmail(args, { input });
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, /^sendmail: fatal: /);
      assert.match(r.stderr, text);
      assert.doesNotMatch(r.stderr, /\n\s+at /); // no stack trace
      assert.deepEqual(queueNames(h.queueDir, 'maildrop'), []);
    }));

test('sendmail keeps NUL bytes and long lines when given them in the body', () =>
  withInstance(async (h) => {
    const long = 'x'.repeat(5000);
    const file = await submitOne(
      h,
      ['r@y.example'],
      `Subject: s\n\na\0b\n${long}\n`,
    );
    const lines = contentLines(file);
    assert.ok(lines.includes('a\0b'));
    assert.ok(lines.includes(long));
    assert.ok(records(file, 'L').length >= 2);
  }));

// cleanup truncates such a header as Postfix does; if it fails instead
// (a temporary error), pickup must keep the file: either way, one copy.
test('sendmail accepts a header line over header_size_limit and loses nothing', () =>
  withInstance(async (h) => {
    const big = `X-Big: ${'y'.repeat(200_000)}\n`;
    const r = await h.sendmail(['r@y.example'], {
      input: `Subject: s\n${big}\nbody\n`,
    });
    assert.equal(r.code, 0, r.stderr);
    await h.pickup();
    const copies =
      h.incoming().length + queueNames(h.queueDir, 'maildrop').length;
    assert.equal(copies, 1);
  }));

test('sendmail streams 100 MB in flat memory when given a large message', () =>
  withInstance(async (h) => {
    const started = Date.now();
    const res = await measureRss(h, 100 * 1024 * 1024);
    console.log(
      `sendmail 100 MB: max RSS ${Math.round(res.rssKb / 1024)} MB, ${Date.now() - started} ms`,
    );
    assert.equal(res.code, 0);
    assert.ok(res.rssKb < 200 * 1024, `RSS ${res.rssKb} kB`);
    const [name] = queueNames(h.queueDir, 'maildrop');
    assert.ok(
      fs.statSync(path.join(h.queueDir, 'maildrop', name)).size > 100_000_000,
    );
  }));

// Run sendmail on a generated message and sample its VmHWM when it ends.
async function measureRss(
  h: SubmitInstance,
  bytes: number,
): Promise<{ code: number | null; rssKb: number }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(
    process.execPath,
    [
      path.join(__dirname, '..', 'packages', 'commands', 'sendmail.js'),
      '-i',
      'r@y.example',
    ],
    {
      env: { ...process.env, MAIL_CONFIG: h.configDir },
      stdio: ['pipe', 'inherit', 'inherit'],
    },
  );
  let peak = 0;
  const timer = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+)/.exec(
        fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'),
      );
      if (m) peak = Math.max(peak, Number(m[1]));
    } catch {
      // the process has ended
    }
  }, 50);
  const chunk = Buffer.from(('z'.repeat(99) + '\n').repeat(10_000));
  child.stdin.write('Subject: big\n\n');
  for (let sent = 0; sent < bytes; sent += chunk.length)
    if (!child.stdin.write(chunk))
      await new Promise((r) => child.stdin.once('drain', r));
  child.stdin.end();
  const code = await new Promise<number | null>((r) => child.on('close', r));
  clearInterval(timer);
  return { code, rssKb: peak };
}
