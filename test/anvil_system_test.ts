// anvil as master runs it (master.cf `anvil unix - - n - 1 anvil`): the
// real smtpd processes of a started instance ask the one anvil process,
// so the connection count limit holds across smtpd processes. The
// service name is master.cf's first column, host:port here.

import test from 'node:test';
import assert from 'node:assert/strict';
import { SmtpClient, sleep, startInstance } from './harness';

// The harness's own probe of the port may still be counted for a moment.
async function firstClient(port: number): Promise<SmtpClient> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const c = await SmtpClient.connect(port);
    const greeting = await c.reply();
    if (/^220 /.test(greeting)) return c;
    c.close();
    if (Date.now() > deadline) assert.fail(`no greeting: ${greeting}`);
    await sleep(100);
  }
}

test('smtpd does refuse the second connection with a count limit of 1 under master', async () => {
  const mta = await startInstance({
    main: {
      smtpd_client_event_limit_exceptions: '',
      smtpd_client_connection_count_limit: '1',
    },
  });
  try {
    const first = await firstClient(mta.smtpPort);
    const second = await SmtpClient.connect(mta.smtpPort);
    assert.equal(
      await second.reply(),
      '421 4.7.0 mail.test.example Error: too many connections from 127.0.0.1',
    );
    await mta.waitForLog(
      /postfix\/smtpd\[\d+\]: warning: Connection concurrency limit exceeded: 2 from \S+\[127\.0\.0\.1\] for service 127\.0\.0\.1:\d+/,
    );
    first.close();
    second.close();
  } finally {
    await mta.destroy();
  }
});
