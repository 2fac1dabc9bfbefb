// Tests for the destination window (qmgr_queue.ts) and the backoff rule
// (qmgr_active.ts): slow start, failed cohorts, dead and revived.

import test from 'node:test';
import assert from 'node:assert/strict';
import { QmgrQueue } from './qmgr_queue';
import { backoffDelay } from './qmgr_active';

const LIMITS = {
  processLimit: 100,
  concurrencyLimit: 7,
  recipientLimit: 50,
  initialConcurrency: 5,
  failedCohortLimit: 1,
};

test('grows the window by one per success up to the limit', () => {
  const q = new QmgrQueue('example.com', LIMITS);
  assert.equal(q.window, 5);
  q.busy = 5;
  for (let i = 0; i < 5; i++) q.success();
  assert.equal(q.window, 7);
});

test('does not grow the window while it is not what limits us', () => {
  const q = new QmgrQueue('example.com', LIMITS);
  q.busy = 0;
  q.success();
  assert.equal(q.window, 5);
});

test('shrinks on a failure and dies past the failed cohort limit', () => {
  const q = new QmgrQueue('example.com', { ...LIMITS, initialConcurrency: 1 });
  q.failure('connect to x: Connection refused', 1000);
  assert.equal(q.isDead(999), false, 'one cohort is allowed');
  q.failure('connect to x: Connection refused', 1000);
  assert.equal(q.isDead(999), true);
  assert.equal(q.deadReason, 'connect to x: Connection refused');
  assert.equal(q.isDead(1000), false, 'revived when the time is up');
  assert.equal(q.window, 1);
});

const BACKOFF: Array<[number, number]> = [
  [0, 300],
  [299, 300],
  [1200, 1200],
  [4000, 4000],
  [86400, 4000],
];

for (const [age, delay] of BACKOFF) {
  test(`backs off ${delay}s when the message is ${age}s old`, () => {
    assert.equal(backoffDelay(age, 300, 4000), delay);
  });
}
