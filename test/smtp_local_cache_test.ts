// One smtp process serves many deliveries at once: it keeps up to
// PER_NEXTHOP idle sessions for one nexthop itself, so that the next
// burst reuses them all (with RSET) without a trip through scache.
// Runs the delivery routine in this process against the sink.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { testRequest, writeQueueFile } from '../services/local/local_testkit';
import { PER_NEXTHOP, SessionCache } from '../services/smtp/smtp_cache';
import {
  deliverSmtpRequest,
  type SmtpSettings,
} from '../services/smtp/smtp_deliver';
import { startSink, type SmtpSink } from './sink/smtp_sink';
import { smtpTestSettings } from './smtp_settings';

function settings(): SmtpSettings {
  return smtpTestSettings({
    cache: new SessionCache(),
    cacheLimits: { idleMs: 5000, reuseMs: 300_000 },
  });
}

// n deliveries at once to the sink; their actions.
async function burst(s: SmtpSettings, sink: SmtpSink, dir: string, n: number) {
  const one = async (i: number) => {
    const m = { recipients: [{ recipient: `u${i}@example.net` }] };
    const q = writeQueueFile(dir, m);
    const req = {
      ...testRequest(q, m, `Q${i}`),
      nexthop: `[127.0.0.1]:${sink.port}`,
    };
    return (await deliverSmtpRequest(s, req, q.file)).results[0].action;
  };
  return Promise.all(Array.from({ length: n }, (_, i) => one(i)));
}

const CASES: Array<[number, number]> = [
  [4, 4],
  [PER_NEXTHOP + 5, PER_NEXTHOP + 5 + 5],
];

for (const [n, want] of CASES)
  test(`does reuse every idle session of the process when ${n} deliveries run at once twice`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtp-local-cache-'));
    const sink = await startSink({});
    const s = settings();
    try {
      assert.deepEqual(await burst(s, sink, dir, n), Array(n).fill('relayed'));
      assert.deepEqual(await burst(s, sink, dir, n), Array(n).fill('relayed'));
      // Beyond PER_NEXTHOP the sessions go (here: without scache) away.
      assert.equal(sink.connections, want);
      const rsets = sink.commands.filter((c) => c === 'RSET').length;
      assert.equal(rsets, Math.min(n, PER_NEXTHOP));
    } finally {
      s.cache!.closeAll();
      await sink.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
