// pipe(8) end to end: mail over SMTP routed by transport_maps to pipe
// services of master.cf, each running a script of the test's that
// records its argv, standard input, environment and uid; one service
// per flag shows what the flag changes; exit 75 defers, 67 bounces, a
// command past <service>_time_limit is killed with its offspring.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  isRoot,
  sleep,
  SmtpClient,
  startInstance,
  type Instance,
} from './harness';

const SKIP = isRoot() ? false : 'pipe needs root to run commands as user=';

// Service name, its flags, what a message to it must show.
const FLAGS: Array<[string, string, (input: string) => void]> = [
  ['fplain', '', (s) => assert.match(s, /^Received: /)],
  ['fb', 'B', (s) => assert.match(s, /\nend line\n\n$/)],
  [
    'fd',
    'D',
    (s) => assert.match(s, /^Delivered-To: user\+ext@fd\.pipe\.example\n/),
  ],
  [
    'ff',
    'F',
    (s) => assert.match(s, /^From s@test\.example  \w{3} \w{3} [ \d]\d \d\d:/),
  ],
  [
    'fo',
    'O',
    (s) => assert.match(s, /^X-Original-To: User\+Ext@fo\.pipe\.example\n/),
  ],
  ['fr', 'R', (s) => assert.match(s, /^Return-Path: <s@test\.example>\n/)],
  ['fdot', '.', (s) => assert.match(s, /\n\.\.dot line\n/)],
  ['fgt', '>', (s) => assert.match(s, /\n>From the body\n/)],
];

const BODY = 'From the body\n.dot line\nend line\n';

let mta: Instance;

// Gone, or a zombie that nobody reaps (no init in a container).
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}
let dir: string;

function script(): string {
  return [
    '#!/bin/sh',
    `d=${dir}/out`,
    'name=$1',
    'printf "%s\\n" "$@" > "$d/$name.argv"',
    'env > "$d/$name.env"',
    'id -u > "$d/$name.uid"',
    'cat > "$d/$name.in"',
    'case "$name" in',
    '  fdefer) echo "try again later"; exit 75 ;;',
    '  fbounce) echo "no such mailbox"; exit 67 ;;',
    '  fslow) sleep 60 & echo $! > "$d/$name.pid"; wait ;;',
    'esac',
    'exit 0',
    '',
  ].join('\n');
}

function services(): string[] {
  const rec = `${dir}/rec.sh`;
  const line = (name: string, flags: string, args: string) =>
    `${name} unix - n n - - pipe flags=${flags} user=nobody ` +
    `argv=${rec} ${name} ${args}`;
  return [
    ...FLAGS.map(([name, flags]) => line(name, flags, '${recipient}')),
    line('fx', 'X', '${recipient}'),
    line('frelay', '', '${recipient}'),
    line('fsize', '', '${recipient}').replace(' argv=', ' size=10 argv='),
    line('feol', 'R', '${recipient}').replace(' argv=', ' eol=\\r\\n argv='),
    line('fnull', '', '${sender}').replace(' argv=', ' null_sender= argv='),
    line(
      'fmacro',
      'hqu',
      '${sender} ${recipient} ${original_recipient} ${user} ${extension} ' +
        '${domain} ${mailbox} ${nexthop} ${client_address} ${size}',
    ),
    line('fdefer', '', '${recipient}'),
    line('fbounce', '', '${recipient}'),
    line('fslow', '', '${recipient}'),
  ];
}

test.before(async () => {
  if (SKIP) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipe-test-'));
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(`${dir}/out`, { mode: 0o777 });
  fs.chmodSync(`${dir}/out`, 0o777);
  fs.writeFileSync(`${dir}/rec.sh`, script(), { mode: 0o755 });
  const names = [
    ...FLAGS.map((f) => f[0]),
    'fx',
    'frelay',
    'fsize',
    'feol',
    'fnull',
    'fmacro',
    'fdefer',
    'fbounce',
    'fslow',
  ];
  const routes = names.map((n) => `${n}.pipe.example=${n}:Next.Hop.Example`);
  mta = await startInstance({
    main: {
      transport_maps: `inline:{ ${routes.join(', ')} }`,
      recipient_delimiter: '+',
      fslow_time_limit: '2s',
    },
    master: services(),
  });
});

test.after(async () => {
  await mta?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function submit(to: string, body: string, from = 's@test.example') {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO client.example');
  const msg = `From: a@test.example\nSubject: pipe\n\n${body}`;
  const reply = await smtp.send(from, [to], msg);
  await smtp.command('QUIT');
  smtp.close();
  assert.match(reply, /^250 /);
}

async function recorded(name: string, part: string): Promise<string> {
  const file = `${dir}/out/${name}.${part}`;
  const deadline = Date.now() + 20_000;
  while (!fs.existsSync(file) || fs.statSync(file).size === 0) {
    if (Date.now() > deadline) throw new Error(`no ${file}:\n${mta.log()}`);
    await sleep(100);
  }
  await sleep(100);
  return fs.readFileSync(file, 'utf8');
}

for (const [name, flags, check] of FLAGS)
  test(
    `does apply flag ${JSON.stringify(flags)} when piping into ${name}`,
    { skip: SKIP },
    async () => {
      await submit(`User+Ext@${name}.pipe.example`, BODY);
      const input = await recorded(name, 'in');
      check(input);
      if (!flags.includes('D')) assert.doesNotMatch(input, /^Delivered-To:/m);
      if (!flags.includes('R')) assert.doesNotMatch(input, /^Return-Path:/m);
      if (!flags.includes('.')) assert.match(input, /\n\.dot line\n/);
      if (!flags.includes('>')) assert.match(input, /\nFrom the body\n/);
      await mta.waitForLog(
        new RegExp(
          `to=<User\\+Ext@${name}\\.pipe\\.example>, relay=${name}, .*status=sent \\(delivered via ${name} service\\)`,
        ),
      );
    },
  );

test(
  'does run the command as user= with the documented environment only',
  { skip: SKIP },
  async () => {
    const argv = (await recorded('fplain', 'argv')).split('\n');
    assert.deepEqual(argv.slice(0, 2), [
      'fplain',
      'User+Ext@fplain.pipe.example',
    ]);
    assert.equal((await recorded('fplain', 'uid')).trim(), '65534');
    const env = new Map(
      (await recorded('fplain', 'env'))
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    assert.equal(env.get('PATH'), '/usr/bin:/bin');
    // /bin/sh itself adds PWD; everything else is export_environment's.
    const extra = [...env.keys()].filter(
      (k) =>
        ![
          'PATH',
          'TZ',
          'MAIL_CONFIG',
          'LANG',
          'PWD',
          'SHLVL',
          '_',
          'OLDPWD',
        ].includes(k),
    );
    assert.deepEqual(extra, []);
  },
);

test(
  'does expand the macros with flags h, q and u',
  { skip: SKIP },
  async () => {
    await submit('"Odd User+Box"@FMacro.Pipe.Example', 'x\n');
    const argv = (await recorded('fmacro', 'argv')).split('\n');
    assert.deepEqual(argv.slice(0, 10), [
      'fmacro',
      's@test.example',
      '"odd user+box"@fmacro.pipe.example',
      '"odd user+box"@fmacro.pipe.example',
      'odd user',
      'box',
      'fmacro.pipe.example',
      'odd user+box',
      'next.hop.example',
      '127.0.0.1',
    ]);
    assert.match(argv[10], /^\d+$/);
  },
);

// The success notice (NOTIFY=SUCCESS) names the action qmgr heard.
async function notice(service: string, sender: string): Promise<string> {
  const c = await SmtpClient.connect(mta.smtpPort);
  await c.reply();
  await c.command('EHLO client.example');
  await c.command(`MAIL FROM:<${sender}@localhost>`);
  await c.command(`RCPT TO:<u@${service}.pipe.example> NOTIFY=SUCCESS`);
  await c.command('DATA');
  c.write('Subject: x\r\n\r\nx\r\n');
  assert.match(await c.command('.'), /^250 /);
  c.close();
  const [text] = await mta.waitForMaildir(sender, 1);
  return text;
}

test(
  'does report delivered with flag X and relayed without',
  { skip: SKIP },
  async () => {
    assert.match(
      await notice('fx', 'xsender'),
      /Action: delivered\nStatus: 2\.0\.0/,
    );
    assert.match(
      await notice('frelay', 'rsender'),
      /Action: relayed\nStatus: 2\.0\.0/,
    );
  },
);

test(
  'does bounce a message over size= without running the command',
  { skip: SKIP },
  async () => {
    await submit('u@fsize.pipe.example', 'a body longer than ten bytes\n');
    await mta.waitForLog(
      /to=<u@fsize\.pipe\.example>, relay=fsize, .*dsn=5\.2\.3, status=bounced \(message too large\)/,
    );
    assert.equal(fs.existsSync(`${dir}/out/fsize.in`), false);
  },
);

test(
  'does end lines with eol= and give null_sender= for <>',
  { skip: SKIP },
  async () => {
    await submit('u@feol.pipe.example', 'one\ntwo\n', '');
    assert.match(
      await recorded('feol', 'in'),
      /^Return-Path: <>\r\n[^]*\r\n\r\none\r\ntwo\r\n$/,
    );
    await submit('u@fnull.pipe.example', 'x\n', '');
    const argv = (await recorded('fnull', 'argv')).split('\n');
    assert.deepEqual(argv.slice(0, 2), ['fnull', '']);
  },
);

test(
  'does defer on exit 75 and bounce on exit 67 with the output as reason',
  { skip: SKIP },
  async () => {
    await submit('u@fdefer.pipe.example', 'x\n');
    await submit('u@fbounce.pipe.example', 'x\n');
    await mta.waitForLog(
      /to=<u@fdefer\.pipe\.example>, relay=fdefer, .*dsn=4\.3\.0, status=deferred \(temporary failure\. Command output: try again later\)/,
    );
    await mta.waitForLog(
      /to=<u@fbounce\.pipe\.example>, relay=fbounce, .*dsn=5\.1\.1, status=bounced \(user unknown\. Command output: no such mailbox\)/,
    );
  },
);

test(
  'does kill the command and its offspring at the time limit',
  { skip: SKIP },
  async () => {
    await submit('u@fslow.pipe.example', 'x\n');
    const pid = Number((await recorded('fslow', 'pid')).trim());
    await mta.waitForLog(
      /to=<u@fslow\.pipe\.example>, relay=fslow, .*dsn=5\.3\.0, status=bounced \(Command time limit exceeded: "[^"]*rec\.sh"\)/,
    );
    assert.ok(!alive(pid), `process ${pid} of the command is still running`);
  },
);
