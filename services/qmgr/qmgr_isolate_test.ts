// Unit tests of qmgr_isolate: a message whose agent died is delivered
// alone on its transport the next time; others share as before, and a
// suspect that is delivered well shares again.

import test from 'node:test';
import assert from 'node:assert/strict';
import { CrashIsolation } from './qmgr_isolate';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Span = { id: string; start: number; end: number };

// Runs deliveries [transport, id, ms, crashes] at once (each a little
// after the one before) and returns when each ran.
async function runAll(
  iso: CrashIsolation,
  jobs: Array<[string, string, number, boolean]>,
): Promise<Map<string, Span>> {
  const spans = new Map<string, Span>();
  await Promise.all(
    jobs.map(async ([transport, id, ms, crash], i) => {
      await sleep(i * 5);
      await iso.run(
        transport,
        id,
        async () => {
          const start = Date.now();
          await sleep(ms);
          spans.set(id, { id, start, end: Date.now() });
          return crash;
        },
        (c) => c,
      );
    }),
  );
  return spans;
}

const overlap = (a: Span, b: Span) => a.start < b.end && b.start < a.end;

test('does run deliveries side by side when none crashed before', async () => {
  const s = await runAll(new CrashIsolation(), [
    ['t', 'A', 100, false],
    ['t', 'B', 100, false],
  ]);
  assert.ok(overlap(s.get('A')!, s.get('B')!));
});

test('does run a message alone on its transport after its agent died', async () => {
  const iso = new CrashIsolation();
  await runAll(iso, [['t', 'A', 10, true]]);
  const s = await runAll(iso, [
    ['t', 'B', 100, false],
    ['t', 'A', 100, false],
    ['t', 'C', 100, false],
    ['u', 'D', 300, false],
  ]);
  assert.ok(!overlap(s.get('A')!, s.get('B')!), 'A waits for B');
  assert.ok(!overlap(s.get('A')!, s.get('C')!), 'C waits for A');
  assert.ok(overlap(s.get('A')!, s.get('D')!), 'other transports go on');

  const again = await runAll(iso, [
    ['t', 'A', 100, false],
    ['t', 'B', 100, false],
  ]);
  assert.ok(overlap(again.get('A')!, again.get('B')!), 'A shares again');
});
