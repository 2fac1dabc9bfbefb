// Connection reuse through the shared scache service (issue 5 point 2),
// end to end through master: 1,000 messages to one sink over a handful of
// connections (one per message with smtp_connection_cache_on_demand =
// no), scache's statistics at exit, and smtp processes killed while
// connections sit idle in the caches lose and double nothing.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import {
  message,
  sleep,
  SmtpClient,
  startInstance,
  type Instance,
} from './harness';
import { startSink, type SmtpSink } from './sink/smtp_sink';

async function withRelay(
  main: Record<string, string>,
  run: (mta: Instance, sink: SmtpSink) => Promise<void>,
): Promise<void> {
  const sink = await startSink({});
  const mta = await startInstance({
    main: {
      transport_maps: `inline:{ sink.example=smtp:[127.0.0.1]:${sink.port} }`,
      ...main,
    },
  });
  try {
    await run(mta, sink);
  } finally {
    await mta.destroy();
    await sink.close();
  }
}

// Several clients at once, each sending its share on one connection.
async function submit(mta: Instance, tag: string, n: number, clients = 4) {
  const one = async (c: number) => {
    const smtp = await SmtpClient.connect(mta.smtpPort);
    await smtp.reply();
    await smtp.command('EHLO client.test.example');
    for (let i = c; i < n; i += clients)
      await smtp.send(
        'alice@localhost',
        [`u${i}@sink.example`],
        message(`${tag}-${i}`),
      );
    await smtp.command('QUIT');
    smtp.close();
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => one(c)));
}

async function waitForMessages(sink: SmtpSink, n: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (sink.messages.length < n && Date.now() < deadline) await sleep(100);
  assert.equal(sink.messages.length, n, 'messages at the sink');
}

// Every subject of the tag exactly once.
function assertOnceEach(sink: SmtpSink, tag: string, n: number): void {
  const seen = new Map<string, number>();
  for (const m of sink.messages) {
    const subject = /^Subject: (.*)\r$/m.exec(m.data)?.[1] ?? '';
    if (subject.startsWith(`${tag}-`))
      seen.set(subject, (seen.get(subject) ?? 0) + 1);
  }
  assert.equal(seen.size, n, `distinct ${tag} messages`);
  assert.ok(
    [...seen.values()].every((c) => c === 1),
    'none doubled',
  );
}

function smtpPids(mta: Instance): number[] {
  const master = mta.masterPid();
  const out = cp.spawnSync('ps', ['-o', 'pid=,args=', '-g', String(master)], {
    encoding: 'utf8',
  });
  return out.stdout
    .split('\n')
    .filter((l) => /smtp\/smtp\.js -n smtp /.test(l))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

test('does deliver a burst of 1,000 messages over a handful of connections', async () => {
  await withRelay({}, async (mta, sink) => {
    const started = Date.now();
    await submit(mta, 'burst', 1000);
    await waitForMessages(sink, 1000, 240_000);
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `scache: 1000 messages, ${sink.connections} connections ` +
        `(at most ${sink.maxOpen} at once), ${seconds.toFixed(1)} s`,
    );
    assertOnceEach(sink, 'burst', 1000);
    // 1,000 without the cache; with it about the concurrency window, plus
    // a few that expired idle (connection_cache_ttl_limit = 2s) in a lull.
    assert.ok(sink.connections <= 50, `${sink.connections} connections`);
    // A connection from scache is checked with RSET, never a new EHLO.
    const ehlos = sink.commands.filter((c) => c.startsWith('EHLO')).length;
    assert.equal(ehlos, sink.connections, 'one EHLO per connection');
    assert.match(
      mta.log(),
      /postfix\/smtp\[\d+\]: \w+: to=<[^>]+>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, conn_use=\d+, /,
    );

    mta.postfix('stop');
    const hits = await mta.waitForLog(
      /postfix\/scache\[\d+\]: statistics: domain lookup hits=\d+ miss=\d+ success=\d+%/,
    );
    console.log(`scache: ${hits}`);
    assert.match(
      mta.log(),
      /scache\[\d+\]: statistics: max simultaneous domains=\d+ addresses=\d+ connection=\d+/,
    );
  });
});

test('does open a connection per message when smtp_connection_cache_on_demand = no', async () => {
  await withRelay(
    { smtp_connection_cache_on_demand: 'no' },
    async (mta, sink) => {
      await submit(mta, 'nocache', 100);
      await waitForMessages(sink, 100, 120_000);
      console.log(`no cache: 100 messages, ${sink.connections} connections`);
      assertOnceEach(sink, 'nocache', 100);
      assert.equal(sink.connections, 100);
    },
  );
});

test('does lose or double nothing when smtp processes die with connections cached', async () => {
  await withRelay(
    {
      smtp_connection_cache_time_limit: '30s',
      connection_cache_ttl_limit: '30s',
    },
    async (mta, sink) => {
      await submit(mta, 'before', 50);
      await waitForMessages(sink, 50, 60_000);
      await sleep(500); // the last sessions reach the caches
      const pids = smtpPids(mta);
      assert.ok(pids.length > 0, 'an smtp process to kill');
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      const cachedOpen = sink.openConnections;
      console.log(
        `killed smtp ${pids.join(' ')}; ${cachedOpen} connections still open in scache`,
      );
      assert.ok(cachedOpen > 0, 'scache kept connections of the dead process');

      const before = sink.connections;
      await submit(mta, 'after', 50);
      await waitForMessages(sink, 100, 60_000);
      assertOnceEach(sink, 'before', 50);
      assertOnceEach(sink, 'after', 50);
      console.log(
        `after the kill: ${sink.connections - before} new connections`,
      );
      assert.ok(
        sink.connections - before < 50,
        'cached connections were reused',
      );
      for (let i = 0; i < 100 && mta.queueFiles('active').length; i++)
        await sleep(100);
      assert.deepEqual(mta.queueFiles('active'), []);
      assert.deepEqual(mta.queueFiles('deferred'), []);
    },
  );
});
