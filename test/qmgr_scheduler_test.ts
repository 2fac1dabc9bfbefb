// qmgr's per-destination scheduling end to end (issue 5 point 4), times
// shrunk in main.cf: slow start seen at the sink; a destination that never
// answers goes dead ("delivery temporarily suspended") while a live one
// gets its mail at full speed; default_destination_rate_delay spaces
// deliveries to one destination.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  message,
  sleep,
  SmtpClient,
  startInstance,
  type Instance,
} from './harness';
import { startSink, type SinkScript, type SmtpSink } from './sink/smtp_sink';

async function withSinks(
  scripts: SinkScript[],
  main: (sinks: SmtpSink[]) => Record<string, string>,
  run: (mta: Instance, sinks: SmtpSink[]) => Promise<void>,
): Promise<void> {
  const sinks = await Promise.all(scripts.map((s) => startSink(s)));
  let mta: Instance | undefined;
  try {
    mta = await startInstance({ main: main(sinks) });
    await run(mta, sinks);
  } finally {
    await mta?.destroy();
    for (const sink of sinks) await sink.close();
  }
}

function routes(sinks: SmtpSink[], names: string[]): string {
  const list = names.map((n, i) => `${n}=smtp:[127.0.0.1]:${sinks[i].port}`);
  return `inline:{ ${list.join(', ')} }`;
}

// One client connection, one message per recipient address.
async function submit(mta: Instance, to: string[]): Promise<void> {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO client.test.example');
  for (const rcpt of to)
    await smtp.send('alice@localhost', [rcpt], message(rcpt));
  await smtp.command('QUIT');
  smtp.close();
}

async function waitFor(check: () => boolean, what: string, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await sleep(50);
  assert.ok(check(), what);
}

const each = (n: number, domain: string) =>
  Array.from({ length: n }, (_, i) => `u${i}@${domain}`);

test('does start slowly from initial_destination_concurrency', async () => {
  const slow = { dot: { send: '250 2.0.0 Ok\r\n', delayMs: 300 } };
  await withSinks(
    [slow],
    (sinks) => ({
      transport_maps: routes(sinks, ['slow.example']),
      initial_destination_concurrency: '2',
      default_destination_concurrency_limit: '8',
      smtp_connection_cache_on_demand: 'no', // a connection per delivery
    }),
    async (mta, [sink]) => {
      await submit(mta, each(40, 'slow.example'));
      await waitFor(() => sink.messages.length === 40, 'all delivered');
      console.log(
        `slow start: open connections at each accept ${sink.openAtAccept}; ` +
          `at most ${sink.maxBusy} transactions at once`,
      );
      assert.ok(sink.openAtAccept.slice(0, 2).every((n) => n <= 2));
      assert.ok(sink.maxBusy > 2, `grew past 2 (${sink.maxBusy})`);
      assert.ok(sink.maxBusy <= 8, `kept the limit (${sink.maxBusy})`);
      const firstWide = sink.openAtAccept.findIndex((n) => n > 2);
      assert.ok(firstWide >= 2, 'not wide from the start');
    },
  );
});

test('does defer mail for a dead destination without slowing a live one', async () => {
  const hang = { greeting: { then: 'hang' as const } };
  await withSinks(
    [hang, {}],
    (sinks) => ({
      transport_maps: routes(sinks, ['dead.example', 'live.example']),
      smtp_helo_timeout: '2s',
    }),
    async (mta, [dead, live]) => {
      const started = Date.now();
      const to = each(20, 'dead.example').flatMap((d, i) => [
        d,
        `u${i}@live.example`,
      ]);
      await submit(mta, to);
      const submitted = Date.now();
      await waitFor(() => live.messages.length === 20, 'live mail arrived');
      const liveSeconds = (live.times[19] - started) / 1000;
      const liveLag = live.times[19] - submitted;
      const deferred = () =>
        (mta.log().match(/to=<u\d+@dead\.example>.*status=deferred/g) ?? [])
          .length;
      await waitFor(() => deferred() === 20, 'dead mail deferred');
      const deadSeconds = (Date.now() - started) / 1000;
      console.log(
        `live: 20 delivered in ${liveSeconds.toFixed(1)} s, the last ` +
          `${liveLag} ms after the submission ended; dead: 20 deferred ` +
          `in ${deadSeconds.toFixed(1)} s over ${dead.connections} connections`,
      );
      assert.match(
        mta.log(),
        /to=<u\d+@dead\.example>.*status=deferred \(delivery temporarily suspended: /,
      );
      assert.ok(dead.connections < 20, 'suspended mail was not tried');
      // The dead peer costs smtp_helo_timeout (2s) per try; live mail is
      // not held behind it.
      assert.ok(liveLag < 1500, `live mail waited ${liveLag} ms`);
      assert.ok(deadSeconds >= 2, 'the dead peer was waited for');
    },
  );
});

test('does space deliveries by default_destination_rate_delay', async () => {
  await withSinks(
    [{}],
    (sinks) => ({
      transport_maps: routes(sinks, ['paced.example']),
      default_destination_rate_delay: '1s',
    }),
    async (mta, [sink]) => {
      await submit(mta, each(4, 'paced.example'));
      await waitFor(() => sink.messages.length === 4, 'all delivered');
      const gaps = sink.times.slice(1).map((t, i) => t - sink.times[i]);
      console.log(`rate delay 1s: gaps ${gaps.join(' ')} ms`);
      assert.ok(
        gaps.every((g) => g >= 900 && g < 4000),
        `gaps ${gaps}`,
      );
    },
  );
});
