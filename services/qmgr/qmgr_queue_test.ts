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

test('dies when one whole cohort has failed, as failed_cohort_limit = 1', () => {
  const q = new QmgrQueue('example.com', { ...LIMITS, initialConcurrency: 1 });
  q.failure('connect to x: Connection refused', 1000);
  assert.equal(q.isDead(999), true);
  assert.equal(q.deadReason, 'connect to x: Connection refused');
  assert.equal(q.isDead(1000), false, 'revived when the time is up');
  assert.equal(q.window, 1);
});

test('shrinks by one per failure with negative feedback 1', () => {
  const q = new QmgrQueue('example.com', { ...LIMITS, failedCohortLimit: 2 });
  q.failure('lost', 1000);
  assert.equal(q.window, 4);
  q.failure('lost', 1000);
  assert.equal(q.window, 3);
  assert.equal(q.isDead(0), false);
});

const inverse = (n: number) => 1 / n;

test('grows by one per window of successes with 1/concurrency', () => {
  const q = new QmgrQueue('example.com', {
    ...LIMITS,
    concurrencyLimit: 20,
    positiveFeedback: inverse,
  });
  q.busy = 5;
  for (let i = 0; i < 4; i++) q.success();
  assert.equal(q.window, 5, 'four fifths of a step');
  q.success();
  assert.equal(q.window, 6);
});

test('shrinks slowly with negative feedback 1/concurrency', () => {
  const q = new QmgrQueue('example.com', {
    ...LIMITS,
    failedCohortLimit: 10,
    negativeFeedback: inverse,
  });
  for (let i = 0; i < 4; i++) q.failure('lost', 1000);
  assert.equal(q.window, 5, 'four fifths of a step');
  q.failure('lost', 1000);
  assert.equal(q.window, 4);
});

test('keeps one delivery at a time and spaces them with a rate delay', async () => {
  let woken = 0;
  const q = new QmgrQueue('example.com', { ...LIMITS, rateDelay: 1 }, () => {
    woken++;
  });
  q.jobs.push({} as never, {} as never);
  assert.equal(q.hasRoom(), true);
  q.busy = 1;
  assert.equal(q.hasRoom(), false, 'one at a time');
  q.busy = 0;
  assert.equal(q.hasRoom(), false, 'not before the delay');
  assert.equal(q.delaying, true);
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal(woken, 1, 'the scheduler was woken');
  assert.equal(q.hasRoom(), true);
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
