// Stuck and crashing peers inside the system (issue 6 point 6), end to
// end through master: a delivery agent that never answers or blocks its
// event loop is killed by the daemon_timeout watchdog (its own timer, or
// master missing its heartbeat) and its mail is deferred; a |command
// alias that never ends is killed after command_time_limit; an agent
// that crashes on one message leaves the others delivered and that one
// retried with backoff, not in a loop.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DIST,
  message,
  queueIdOf,
  sleep,
  SmtpClient,
  startInstance,
  type Instance,
} from './harness';

// master runs $daemon_directory/<command>/<command>.js: a folder of links
// to the built daemons plus the test agent.
function daemonDirectory(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pfts-daemons-'));
  fs.chmodSync(dir, 0o755);
  const services = path.join(DIST, 'services');
  for (const name of fs.readdirSync(services))
    fs.symlinkSync(path.join(services, name), path.join(dir, name));
  fs.symlinkSync(
    path.join(DIST, 'test', 'test_agent'),
    path.join(dir, 'test_agent'),
  );
  return dir;
}

let mta: Instance;
let daemons: string;

test.before(async () => {
  daemons = daemonDirectory();
  mta = await startInstance({
    main: {
      daemon_directory: daemons,
      transport_maps:
        'inline:{ stuck.example=stuck:, flaky.example=flaky:, cold.example=cold: }',
      minimal_backoff_time: '3s',
      maximal_backoff_time: '3s',
      queue_run_delay: '1s',
      command_time_limit: '2s',
      // A connection no agent took is given up after this (the cold
      // start test below can meet one), not after daemon_timeout.
      qmgr_ipc_timeout: '5s',
    },
    master: [
      'stuck unix - - n - - test_agent -o daemon_timeout=3s',
      'flaky unix - - n - - test_agent',
      'cold unix - - n - - test_agent',
    ],
  });
  fs.writeFileSync(
    path.join(mta.configDir, 'aliases'),
    'forever: "|sleep 6173"\n',
  );
});

test.after(async () => {
  // A command under way ends at its time limit, not with the instance:
  // it runs in a process group of its own.
  await sleep(2500);
  await mta.destroy();
  fs.rmSync(daemons, { recursive: true, force: true });
});

async function submit(to: string, body: string): Promise<string> {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  try {
    await smtp.reply();
    await smtp.command('EHLO client.test.example');
    const reply = await smtp.send('alice@localhost', [to], message(to, body));
    return queueIdOf(reply);
  } finally {
    smtp.close();
  }
}

// A message that would be retried for the rest of the file is removed.
function remove(id: string): void {
  const r = mta.command('postsuper', ['-d', id]);
  assert.equal(r.code, 0, r.stderr);
}

// The `sleep 6173` processes and how many seconds each has run.
function sleepers(): number[] {
  const ps = cp.spawnSync('ps', ['-eo', 'etimes=,args='], {
    encoding: 'utf8',
  });
  return ps.stdout
    .split('\n')
    .filter((l) => /\ssleep 6173$/.test(l))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function deferredLine(id: string, to: string, reason: string): RegExp {
  return new RegExp(
    `${id}: to=<${esc(to)}>, relay=[^,]+, delay=[\\d.]+, ` +
      `delays=[\\d./]+, dsn=4\\.\\d\\.\\d, status=deferred \\(${reason}`,
  );
}

test('does kill an agent that never answers after daemon_timeout and defer its mail', async () => {
  const id = await submit('hang@stuck.example', 'HANG');
  await mta.waitForLog(
    deferredLine(id, 'hang@stuck.example', 'unknown mail transport error\\)'),
  );
  const log = mta.log();
  const pid = /test_agent\[(\d+)\]: fatal: watchdog timeout/.exec(log)?.[1];
  assert.ok(pid, 'the agent logs the watchdog timeout');
  assert.match(
    log,
    new RegExp(`warning: process \\S+test_agent\\.js pid ${pid} exit status 1`),
  );
  remove(id);
});

test('does kill an agent whose event loop is blocked after daemon_timeout', async () => {
  const id = await submit('busy@stuck.example', 'BUSY');
  await mta.waitForLog(
    deferredLine(id, 'busy@stuck.example', 'unknown mail transport error\\)'),
    20_000,
  );
  const killed = /process \S+test_agent\.js pid (\d+) killed by signal 9/.exec(
    mta.log(),
  );
  assert.ok(killed, 'master saw the agent die of SIGKILL');
  // The agent cannot log: master, which missed its heartbeat, says why.
  assert.match(
    mta.log(),
    new RegExp(
      `master\\[\\d+\\]: warning: process \\S+test_agent\\.js pid ` +
        `${killed[1]} watchdog timeout: no heartbeat for \\d+s -- killing`,
    ),
  );
  remove(id);
});

test('does kill a |command alias after command_time_limit and defer', async () => {
  const id = await submit('forever@localhost', 'to a command');
  await mta.waitForLog(
    deferredLine(
      id,
      'forever@localhost',
      'Command time limit exceeded: "sleep 6173"',
    ),
  );
  // Each attempt's command is killed at command_time_limit (2 s).
  const ages = sleepers();
  assert.ok(
    ages.every((t) => t <= 3),
    `commands alive for ${ages} s`,
  );
  remove(id);
});

// Deliveries of the message in the log, attempt by attempt.
function attempts(id: string): number {
  const re = new RegExp(
    `${id}: to=<crash@flaky\\.example>.*status=deferred`,
    'g',
  );
  return (mta.log().match(re) ?? []).length;
}

// The agent is up and takes its clients itself before the crash, as
// under load; the cold start is the todo test below.
test('does deliver the other mail when an agent crashes on one message, and retry that one with backoff', async () => {
  const warm = await submit('warm@flaky.example', 'fine');
  await mta.waitForLog(
    new RegExp(`${warm}: to=<warm@flaky\\.example>, .*status=sent`),
  );
  const bad = await submit('crash@flaky.example', 'CRASH');
  const good = [];
  for (let i = 0; i < 3; i++)
    good.push(await submit(`ok${i}@flaky.example`, 'fine'));
  for (const [i, id] of good.entries())
    await mta.waitForLog(
      new RegExp(`${id}: to=<ok${i}@flaky\\.example>, .*status=sent`),
      20_000,
    );
  await mta.waitForLog(
    deferredLine(bad, 'crash@flaky.example', 'unknown mail transport error\\)'),
  );
  const from = Date.now();
  const start = attempts(bad);
  await sleep(10_000);
  const tries = attempts(bad) - start;
  // Backoff is 3 s: about three retries in ten seconds, never a loop.
  assert.ok(
    tries >= 1 && tries <= 5,
    `${tries} attempts in ${Date.now() - from} ms`,
  );
  assert.match(
    mta.log(),
    /warning: process \S+test_agent\.js pid \d+ exit status 1/,
  );
  assert.match(
    mta.log(),
    /warning: transport flaky failure -- see a previous warning\/fatal\/panic logfile record for the problem description/,
  );
  remove(bad);
});

test('does deliver the other mail when an agent crashes on one message at its first start', async () => {
  const bad = await submit('crash@cold.example', 'CRASH');
  const good = [];
  for (let i = 0; i < 3; i++)
    good.push(await submit(`ok${i}@cold.example`, 'fine'));
  // An agent marks a recipient done before it logs "sent"; one killed
  // by the crash in between leaves the mark and no line, and qmgr then
  // removes the file without a second delivery. Either way the mail is
  // delivered once, never bounced.
  for (const [i, id] of good.entries())
    await mta.waitForLog(
      new RegExp(`${id}: (to=<ok${i}@cold\\.example>, .*status=sent|removed)`),
      20_000,
    );
  for (const id of good)
    assert.doesNotMatch(mta.log(), new RegExp(`${id}: .*status=bounced`));
  remove(bad);
});
