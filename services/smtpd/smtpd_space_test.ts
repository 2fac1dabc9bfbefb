// Tests for the free-space check at MAIL FROM, on the real file system
// of a temporary queue: a queue_minfree larger than any disk, and a SIZE=
// announcement larger than the free space, both get 452 4.3.1.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import {
  LOG,
  SmtpTestClient,
  startInstance,
  waitForLog,
} from './smtpd_testkit';

const HUGE = String(2 ** 52); // bytes: more than any test machine has

const CASES: Array<[string, Record<string, string>, string, string]> = [
  ['queue_minfree is over the free space', { queue_minfree: HUGE }, '', '452'],
  [
    'SIZE= is over the free space',
    { message_size_limit: '0' },
    ` SIZE=${HUGE}`,
    '452',
  ],
  ['there is room', {}, ' SIZE=1000', '250'],
];

for (const [when, params, size, code] of CASES) {
  test(`MAIL FROM does answer ${code} when ${when}`, async () => {
    const from = LOG.length;
    const inst = await startInstance(params);
    try {
      assert.ok(fs.statfsSync(inst.queueDir).bavail > 0);
      const c = await SmtpTestClient.connect(inst.port);
      await c.reply();
      c.send('EHLO client.example.org');
      await c.reply();
      c.send(`MAIL FROM:<a@example.org>${size}`);
      const [line] = (await c.reply()) ?? [''];
      c.close();
      if (code === '250') return assert.equal(line, '250 2.1.0 Ok');
      assert.equal(line, '452 4.3.1 Insufficient system storage');
      await waitForLog(
        /^warning: not enough free space in mail queue: \d+ bytes < \d+ bytes$/,
        from,
      );
    } finally {
      await inst.close();
    }
  });
}
