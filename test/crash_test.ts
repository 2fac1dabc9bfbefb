// Crash safety under load: clients send mail while smtpd, cleanup, qmgr
// and local are killed with SIGKILL at random moments, and once master
// with all its children. After a restart every message that got 250 is
// delivered, none twice. The counts are printed as test diagnostics.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import {
  sleep,
  SmtpClient,
  startInstance,
  waitForPort,
  type Instance,
} from './harness';

const SECONDS = Number(process.env.CRASH_TEST_SECONDS ?? 20);
const CLIENTS = 4;
const VICTIMS = ['smtpd', 'cleanup', 'qmgr', 'local'];

interface Tally {
  accepted: Set<string>;
  ids: Map<string, string>; // token to queue ID
  samples: string[]; // the first refusals, to explain a failure
  refused: number;
  broken: number;
  kills: Record<string, number>;
}

function daemonPids(mta: Instance, daemon: string): number[] {
  const master = mta.masterPid();
  if (!master) return [];
  const out = cp.spawnSync('ps', ['-o', 'pid=,args=', '-g', String(master)], {
    encoding: 'utf8',
  });
  return out.stdout
    .split('\n')
    .filter((l) => l.includes(`/${daemon}/${daemon}.js`))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

// One client: sessions of a few messages each, a fresh token per message;
// a token counts only when its final reply was 250.
async function client(mta: Instance, n: number, until: number, t: Tally) {
  let seq = 0;
  while (Date.now() < until) {
    let smtp: SmtpClient | null = null;
    try {
      smtp = await SmtpClient.connect(mta.smtpPort);
      if (!(await smtp.reply(5000)).startsWith('220'))
        throw new Error('banner');
      await smtp.command('EHLO crash.test.example');
      for (let i = 0; i < 5 && Date.now() < until; i++) {
        const token = `c${n}-${seq++}`;
        const reply = await smtp.send(
          'crash@test.example',
          ['victim@localhost'],
          `Subject: ${token}\r\nX-Token: ${token}\r\n\r\nbody of ${token}\r\n`,
        );
        if (reply.startsWith('250')) {
          t.accepted.add(token);
          t.ids.set(token, /queued as (\S+)/.exec(reply)?.[1] ?? '?');
        } else {
          t.refused++;
          if (t.samples.length < 5) t.samples.push(reply || '(closed)');
        }
      }
      await smtp.command('QUIT');
    } catch {
      t.broken++;
      await sleep(100);
    } finally {
      smtp?.close();
    }
  }
}

async function killer(mta: Instance, until: number, t: Tally) {
  const halfway = Date.now() + (until - Date.now()) / 2;
  let masterKilled = false;
  while (Date.now() < until) {
    await sleep(200 + Math.random() * 400);
    if (!masterKilled && Date.now() > halfway) {
      masterKilled = true;
      const pid = mta.masterPid();
      if (pid) process.kill(-pid, 'SIGKILL');
      t.kills.master = 1;
      await sleep(300);
      const restart = mta.postfix('start');
      assert.equal(restart.code, 0, restart.stderr);
      await waitForPort(mta.smtpPort);
      continue;
    }
    const victim = VICTIMS[Math.floor(Math.random() * VICTIMS.length)];
    const pids = daemonPids(mta, victim);
    if (pids.length === 0) continue;
    try {
      process.kill(pids[Math.floor(Math.random() * pids.length)], 'SIGKILL');
      t.kills[victim] = (t.kills[victim] ?? 0) + 1;
    } catch {
      // It exited by itself meanwhile.
    }
  }
}

// Complete files only: a file cleanup was killed while writing keeps
// mode 0600, was never acknowledged, and is never delivered.
function readyFiles(mta: Instance): string[] {
  return ['incoming', 'active', 'deferred', 'maildrop']
    .flatMap((q) => mta.queueFiles(q))
    .filter((f) => {
      // qmgr may remove a file between the directory read and this stat.
      const st = fs.statSync(f, { throwIfNoEntry: false });
      return st !== undefined && (st.mode & 0o700) === 0o700;
    });
}

function queueEmpty(mta: Instance): boolean {
  return readyFiles(mta).length === 0;
}

test('no message that got 250 is lost or delivered twice when daemons are killed', async (t) => {
  const mta = await startInstance({
    main: {
      minimal_backoff_time: '1s',
      maximal_backoff_time: '2s',
      queue_run_delay: '1s',
      transport_retry_time: '1s',
      // A child killed before its first client counts as a startup
      // failure, and master throttles its service; Postfix's 60 s would
      // outlast the test's wait for the queue to drain.
      service_throttle_time: '2s',
    },
  });
  try {
    const tally: Tally = {
      accepted: new Set(),
      ids: new Map(),
      samples: [],
      refused: 0,
      broken: 0,
      kills: {},
    };
    const until = Date.now() + SECONDS * 1000;
    await Promise.all([
      killer(mta, until, tally),
      ...Array.from({ length: CLIENTS }, (_, n) =>
        client(mta, n, until, tally),
      ),
    ]);
    if (mta.postfix('status').code !== 0)
      assert.equal(mta.postfix('start').code, 0);

    const deadline = Date.now() + 90_000;
    while (!queueEmpty(mta) && Date.now() < deadline) {
      mta.postfix('flush');
      await sleep(1000);
    }
    const counts = new Map<string, number>();
    for (const text of mta.maildir('victim')) {
      const token = /^X-Token: (\S+)/m.exec(text)?.[1];
      if (token) counts.set(token, (counts.get(token) ?? 0) + 1);
    }
    const lost = [...tally.accepted].filter((tok) => !counts.has(tok));
    const doubled = [...counts].filter(([, n]) => n > 1).map(([tok]) => tok);
    t.diagnostic(
      `accepted=${tally.accepted.size} refused=${tally.refused} ` +
        `broken_sessions=${tally.broken} delivered=${counts.size} ` +
        `lost=${lost.length} doubled=${doubled.length} ` +
        `kills=${JSON.stringify(tally.kills)} queue_empty=${queueEmpty(mta)}`,
    );
    if (tally.samples.length)
      t.diagnostic(`refusals: ${tally.samples.join(' | ')}`);
    if (lost.length) {
      const ids = lost.map((tok) => tally.ids.get(tok)!);
      t.diagnostic(
        `lost: ${ids.join(' ')}; queued: ${readyFiles(mta).join(' ')}`,
      );
      const lines = mta
        .log()
        .split('\n')
        .filter((l) => ids.some((id) => l.includes(id)));
      t.diagnostic(lines.slice(-20).join('\n'));
    }
    assert.ok(tally.accepted.size > 20, 'enough mail went through');
    assert.deepEqual(lost, [], 'lost messages');
    assert.deepEqual(doubled, [], 'messages delivered twice');
  } finally {
    await mta.destroy();
  }
});
