// The local mail path's performance measures, end to end on a running
// instance: local (kept root) runs with few threads, and a delivery
// leaves no marker behind once local goes idle. Figures: see the commits.
// Known limit: the thread count is read from /proc (Linux only).

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sleep, SmtpClient, startInstance, type Instance } from './harness';

function localPids(mta: Instance): number[] {
  const out = cp.spawnSync(
    'ps',
    ['-o', 'pid=,args=', '-g', `${mta.masterPid()}`],
    {
      encoding: 'utf8',
    },
  );
  return out.stdout
    .split('\n')
    .filter((l) => l.includes('/local/local.js'))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

async function sendOne(mta: Instance): Promise<void> {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  try {
    await smtp.reply();
    await smtp.command('EHLO perf.test.example');
    const reply = await smtp.send(
      'a@test.example',
      ['perf@localhost'],
      'Subject: p\r\n\r\nx\r\n',
    );
    assert.match(reply, /^250 /);
  } finally {
    smtp.close();
  }
}

test('does run local with one V8 worker, no thread-pool worker, and clear its markers when idle', async () => {
  const mta = await startInstance();
  try {
    await sendOne(mta);
    await mta.waitForMaildir('perf', 1);
    const [pid] = localPids(mta);
    assert.ok(pid, 'a local process runs');
    // main, one V8 worker, and Node's own two; no libuv worker, since
    // local's file work (its fdatasync too) is synchronous: each seteuid
    // signals one thread fewer.
    assert.ok(fs.readdirSync(`/proc/${pid}/task`).length <= 4);
    // The done recipient's tmp/ marker goes after a second idle.
    const tmp = path.join(mta.mailDir, 'perf', 'tmp');
    const deadline = Date.now() + 10_000;
    while (fs.readdirSync(tmp).length && Date.now() < deadline)
      await sleep(200);
    assert.deepEqual(fs.readdirSync(tmp), []);
  } finally {
    await mta.destroy();
  }
});

// max_use counts per client slot of max_clients_per_process for local
// too, though local serves one client at a time: with max_use = 2 one
// local process still makes the five deliveries (it would have been
// restarted twice when max_use counted its one slot).
test('does keep one local process past max_use deliveries, max_use counting per client slot', async () => {
  const mta = await startInstance({ main: { max_use: '2' } });
  try {
    await sendOne(mta);
    await mta.waitForMaildir('perf', 1);
    const [first] = localPids(mta);
    assert.ok(first, 'a local process runs');
    for (let n = 2; n <= 5; n++) {
      await sendOne(mta);
      await mta.waitForMaildir('perf', n);
    }
    assert.deepEqual(localPids(mta), [first]);
  } finally {
    await mta.destroy();
  }
});

// Uid: real, effective, saved, file system (proc(5)).
function uids(pid: number): number[] {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return /^Uid:\s+(.*)$/m.exec(status)![1].split(/\s+/).map(Number);
}

// Mail for a name without a passwd entry is written with mail_owner's
// rights; local keeps them between deliveries (local_user.ts restAs)
// instead of two setxid broadcasts to its threads for each delivery.
test(
  'does keep mail_owner rights in local between deliveries without a passwd entry',
  { skip: process.geteuid?.() !== 0 && 'needs root' },
  async () => {
    const mta = await startInstance();
    try {
      await sendOne(mta);
      await mta.waitForMaildir('perf', 1);
      const [pid] = localPids(mta);
      const owner = fs.statSync(path.join(mta.mailDir, 'perf')).uid;
      assert.notEqual(owner, 0);
      assert.deepEqual(uids(pid), [0, owner, 0, owner]);
      await sendOne(mta);
      await mta.waitForMaildir('perf', 2);
      assert.deepEqual(localPids(mta), [pid]);
      assert.deepEqual(uids(pid), [0, owner, 0, owner]);
    } finally {
      await mta.destroy();
    }
  },
);
