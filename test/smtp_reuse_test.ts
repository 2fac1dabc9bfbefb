// Connection reuse inside one smtp process (issue 5 point 2, in part):
// back-to-back deliveries to one nexthop share a connection with RSET in
// between; an idle connection is closed after
// smtp_connection_cache_time_limit; a connection the peer dropped while
// parked is replaced without losing the message; smtp_connection_cache_
// destinations and smtp_connection_reuse_count_limit.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { addLogSink } from '../packages/log/log';
import { testRequest, writeQueueFile } from '../services/local/local_testkit';
import { SessionCache } from '../services/smtp/smtp_cache';
import {
  deliverSmtpRequest,
  type SmtpSettings,
} from '../services/smtp/smtp_deliver';
import { startSink, type SmtpSink } from './sink/smtp_sink';
import { smtpTestSettings } from './smtp_settings';

function settings(idleMs = 2000): SmtpSettings {
  return smtpTestSettings({
    cache: new SessionCache(),
    cacheLimits: { idleMs, reuseMs: 300_000 },
  });
}

const LOG: string[] = [];
addLogSink((line) => LOG.push(line));

async function deliverN(s: SmtpSettings, sink: SmtpSink, n: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtp-reuse-'));
  const actions: string[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const m = { recipients: [{ recipient: `u${i}@example.net` }] };
      const q = writeQueueFile(dir, m);
      const req = {
        ...testRequest(q, m, `QID${i}`),
        nexthop: `[127.0.0.1]:${sink.port}`,
      };
      const out = await deliverSmtpRequest(s, req, q.file);
      actions.push(out.results[0].action);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return actions;
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.ok(check(), what);
}

test('does reuse one connection for back-to-back deliveries', async () => {
  const sink = await startSink({});
  const s = settings();
  try {
    const actions = await deliverN(s, sink, 20);
    assert.deepEqual(actions, Array(20).fill('relayed'));
    assert.equal(sink.messages.length, 20);
    assert.equal(sink.connections, 1);
    assert.equal(sink.commands.filter((c) => c === 'RSET').length, 19);
    const port = sink.port;
    assert.ok(
      LOG.some((l) =>
        l.includes(
          ': QID0: to=<u0@example.net>, relay=127.0.0.1[127.0.0.1]:' +
            port +
            ', delay=',
        ),
      ),
    );
    assert.ok(
      LOG.some((l) =>
        l.includes(
          ': QID1: to=<u1@example.net>, relay=127.0.0.1[127.0.0.1]:' +
            port +
            ', conn_use=2, delay=',
        ),
      ),
    );
  } finally {
    s.cache!.closeAll();
    await sink.close();
  }
});

test('does close an idle connection after smtp_connection_cache_time_limit', async () => {
  const sink = await startSink({});
  const s = settings(200);
  try {
    await deliverN(s, sink, 1);
    await until(() => sink.commands.includes('QUIT'), 'QUIT after idling');
    await deliverN(s, sink, 1);
    assert.equal(sink.connections, 2);
  } finally {
    s.cache!.closeAll();
    await sink.close();
  }
});

test('does open a new connection when the parked one was dropped', async () => {
  const sink = await startSink({});
  const s = settings();
  try {
    await deliverN(s, sink, 1);
    sink.dropConnections();
    await until(() => sink.openConnections === 0, 'dropped');
    const actions = await deliverN(s, sink, 1);
    assert.deepEqual(actions, ['relayed']);
    assert.equal(sink.messages.length, 2);
    assert.equal(sink.connections, 2);
  } finally {
    s.cache!.closeAll();
    await sink.close();
  }
});

const LISTED: Array<[string, (port: number) => string[], number]> = [
  ['is listed', (port) => [`[127.0.0.1]:${port}`], 1],
  ['is not listed', () => ['other.example'], 3],
];

for (const [name, list, connections] of LISTED) {
  test(`does cache with on demand off only when the nexthop ${name} in smtp_connection_cache_destinations`, async () => {
    const sink = await startSink({});
    const s = {
      ...settings(),
      onDemand: false,
      cacheDestinations: list(sink.port),
    };
    try {
      assert.deepEqual(await deliverN(s, sink, 3), Array(3).fill('relayed'));
      assert.equal(sink.connections, connections);
    } finally {
      s.cache!.closeAll();
      await sink.close();
    }
  });
}

test('does open a new connection after smtp_connection_reuse_count_limit', async () => {
  const sink = await startSink({});
  const s = settings();
  s.cacheLimits.reuseCount = 2;
  try {
    await deliverN(s, sink, 4);
    assert.equal(sink.connections, 2);
  } finally {
    s.cache!.closeAll();
    await sink.close();
  }
});
