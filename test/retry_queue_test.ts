// End to end through master (test/harness): deferral on 4xx replies and
// refused connections, retries between minimal_backoff_time and
// maximal_backoff_time, postqueue -f and sendmail -q, expiry by
// maximal_queue_lifetime and bounce_queue_lifetime, delay_warning_time
// and defer_transports (issue 5 points 5 and 7). Times shrunk in main.cf.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  message,
  queueIdOf,
  sleep,
  SmtpClient,
  startInstance,
  type Instance,
} from './harness';
import { startSink, type SmtpSink } from './sink/smtp_sink';

const TEMPFAIL = '450 4.2.0 try again later\r\n';

// A sink whose RCPT answers 450 for the first `fails` attempts.
async function flakySink(fails: number): Promise<SmtpSink> {
  let tries = 0;
  return startSink({
    rcpt: () => (++tries <= fails ? TEMPFAIL : '250 2.1.5 Ok\r\n'),
  });
}

async function withInstance(
  main: Record<string, string>,
  fn: (mta: Instance) => Promise<void>,
): Promise<void> {
  const mta = await startInstance({ main });
  try {
    await fn(mta);
  } finally {
    await mta.destroy();
  }
}

function route(port: number): string {
  return `inline:{ { x.example = smtp:[127.0.0.1]:${port} } }`;
}

async function submit(
  mta: Instance,
  from: string,
  subject: string,
): Promise<string> {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO client.test.example');
  const reply = await smtp.send(from, ['bob@x.example'], message(subject));
  await smtp.command('QUIT');
  return queueIdOf(reply);
}

// Messages with content: after a rejected RCPT a pipelining client may
// still finish DATA with an empty message, which does not count.
function delivered(sink: SmtpSink): number {
  return sink.messages.filter((m) => /^Subject: /m.test(m.data)).length;
}

const deferredLine = (id: string) =>
  new RegExp(`${id}: to=<bob@x\\.example>, .*status=deferred \\(([^\\n]*)\\)`);

// Log time stamps of every "status=deferred" line of one message.
function deferTimes(mta: Instance, id: string): number[] {
  return mta
    .log()
    .split('\n')
    .filter((l) => deferredLine(id).test(l))
    .map((l) => Date.parse(l.slice(0, 15) + ' ' + new Date().getFullYear()));
}

test('does defer on a 4xx reply and retry no sooner than minimal_backoff_time', async () => {
  const sink = await flakySink(2);
  try {
    const main = {
      transport_maps: route(sink.port),
      minimal_backoff_time: '2s',
      maximal_backoff_time: '3s',
      queue_run_delay: '1s',
    };
    await withInstance(main, async (mta) => {
      const id = await submit(mta, 'alice@localhost', 'retry');
      const first = await mta.waitForLog(deferredLine(id));
      assert.match(first, /450 4\.2\.0 try again later/);
      await mta.waitForLog(new RegExp(`${id}: removed`), 20_000);
      const times = deferTimes(mta, id);
      assert.equal(times.length, 2);
      // Syslog time stamps have whole seconds: allow one off.
      assert.ok(times[1] - times[0] >= 1000, `${times}`);
      // and no later than maximal_backoff_time plus one queue run.
      assert.ok(times[1] - times[0] <= 7000, `${times}`);
      assert.equal(delivered(sink), 1);
    });
  } finally {
    await sink.close();
  }
});

test('does defer when the connection is refused and log the reason', async () => {
  const main = { transport_maps: route(1) };
  await withInstance(main, async (mta) => {
    const id = await submit(mta, 'alice@localhost', 'refused');
    const line = await mta.waitForLog(deferredLine(id));
    assert.match(line, /connect to 127\.0\.0\.1\[127\.0\.0\.1\]:1: /);
    // The agent logs before qmgr has moved the file: wait for the move.
    const deadline = Date.now() + 5000;
    while (mta.queueFiles('deferred').length === 0 && Date.now() < deadline)
      await sleep(50);
    assert.equal(mta.queueFiles('deferred').length, 1);
  });
});

// Each flush command against a message deferred for 300 seconds.
const FLUSHES: Array<[string, string, string[]]> = [
  ['postqueue -f', 'postqueue', ['-f']],
  ['sendmail -q', 'sendmail', ['-q']],
];

for (const [name, command, args] of FLUSHES) {
  test(`does deliver a deferred message at once on ${name}`, async () => {
    const sink = await flakySink(1);
    try {
      await withInstance({ transport_maps: route(sink.port) }, async (mta) => {
        const id = await submit(mta, 'alice@localhost', name);
        await mta.waitForLog(deferredLine(id));
        const run = mta.command(command, args);
        assert.equal(run.code, 0, run.stderr);
        await mta.waitForLog(new RegExp(`${id}: removed`));
        assert.equal(delivered(sink), 1);
      });
    } finally {
      await sink.close();
    }
  });
}

test('does defer defer_transports mail without trying it until flushed', async () => {
  const sink = await startSink({});
  try {
    const main = { transport_maps: route(sink.port), defer_transports: 'smtp' };
    await withInstance(main, async (mta) => {
      const id = await submit(mta, 'alice@localhost', 'held back');
      const line = await mta.waitForLog(deferredLine(id));
      assert.match(line, /relay=none, .*dsn=4\.3\.2, /);
      assert.match(line, /\(deferred transport\)$/);
      assert.equal(sink.connections, 0);
      const run = mta.command('postqueue', ['-f']);
      assert.equal(run.code, 0, run.stderr);
      await mta.waitForLog(new RegExp(`${id}: removed`));
      assert.equal(delivered(sink), 1);
    });
  } finally {
    await sink.close();
  }
});

test('does send the sender a delay notice after delay_warning_time', async () => {
  const main = {
    transport_maps: route(1),
    delay_warning_time: '2s',
    minimal_backoff_time: '1s',
    maximal_backoff_time: '1s',
    queue_run_delay: '1s',
  };
  await withInstance(main, async (mta) => {
    const id = await submit(mta, 'alice@localhost', 'slow');
    await mta.waitForLog(new RegExp(`${id}: sender delay notification: `));
    const [notice] = await mta.waitForMaildir('alice', 1);
    assert.match(notice, /^Subject: Delayed Mail \(still being retried\)$/m);
    assert.match(notice, /^X-Postfix-Queue-ID: /m);
    assert.match(notice, /^Action: delayed$/m);
    assert.match(notice, /^Final-Recipient: rfc822; bob@x\.example$/m);
    assert.equal(mta.queueFiles('deferred').length >= 1, true);
  });
});

// [sender, main.cf]: the lifetime that applies expires the message; the
// other one is long.
const EXPIRY: Array<[string, string, Record<string, string>]> = [
  [
    'maximal_queue_lifetime',
    'alice@localhost',
    { maximal_queue_lifetime: '2s' },
  ],
  ['bounce_queue_lifetime', '', { bounce_queue_lifetime: '2s' }],
];

for (const [name, sender, lifetimes] of EXPIRY) {
  test(`does return mail to the sender when ${name} has passed`, async () => {
    const sink = await flakySink(1000);
    try {
      const main = {
        transport_maps: route(sink.port),
        minimal_backoff_time: '1s',
        maximal_backoff_time: '1s',
        queue_run_delay: '1s',
        ...lifetimes,
      };
      await withInstance(main, async (mta) => {
        const id = await submit(mta, sender, name);
        await mta.waitForLog(
          new RegExp(
            `${id}: from=<${sender}>, status=expired, returned to sender`,
          ),
          20_000,
        );
        await mta.waitForLog(new RegExp(`${id}: removed`));
        if (!sender) return;
        const [notice] = await mta.waitForMaildir('alice', 1);
        assert.match(notice, /^Subject: Undelivered Mail Returned to Sender$/m);
        assert.match(notice, /450 4\.2\.0 try again later/);
      });
    } finally {
      await sink.close();
    }
  });
}
