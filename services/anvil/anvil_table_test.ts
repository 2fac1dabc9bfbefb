// Unit tests for anvil's counters (AnvilTable) on a fake clock, and for
// the statistics lines and the ctime(3) date they carry.

import test from 'node:test';
import assert from 'node:assert/strict';
import { AnvilTable } from './anvil_table';
import { ctime15 } from './anvil_server';

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

test('connect does count connections open now and the rate per unit', () => {
  const c = clock();
  const table = new AnvilTable(60, c.now);
  assert.deepEqual(table.connect('smtp:192.0.2.1'), { count: 1, rate: 1 });
  assert.deepEqual(table.connect('smtp:192.0.2.1'), { count: 2, rate: 2 });
  table.disconnect('smtp:192.0.2.1');
  assert.deepEqual(table.connect('smtp:192.0.2.1'), { count: 2, rate: 3 });
  assert.deepEqual(table.connect('smtp:192.0.2.2'), { count: 1, rate: 1 });
});

test('rates do start over when anvil_rate_time_unit has passed', () => {
  const c = clock();
  const table = new AnvilTable(60, c.now);
  const EVENTS: Array<'message' | 'recipient'> = ['message', 'recipient'];
  for (const kind of EVENTS) {
    assert.equal(table.event('smtp:a', kind), 1);
    assert.equal(table.event('smtp:a', kind), 2);
  }
  c.advance(60_000);
  for (const kind of EVENTS) assert.equal(table.event('smtp:a', kind), 1);
  assert.equal(table.connect('smtp:a').rate, 1);
});

test('disconnect does not go below zero when it comes twice', () => {
  const table = new AnvilTable(60);
  table.connect('smtp:a');
  table.disconnect('smtp:a');
  table.disconnect('smtp:a');
  assert.equal(table.connect('smtp:a').count, 1);
});

test('takeMaxima does report the largest values once, then forget them', () => {
  const c = clock();
  const table = new AnvilTable(60, c.now);
  table.connect('smtp:a');
  table.connect('smtp:a');
  table.connect('smtp:b');
  table.event('smtp:b', 'recipient');
  const { maxima } = table.takeMaxima();
  const got = Object.fromEntries(maxima.map(([k, m]) => [k, m]));
  assert.equal(got.count.value, 2);
  assert.equal(got.count.ident, 'smtp:a');
  assert.equal(got.rate.value, 2);
  assert.equal(got.recipient.ident, 'smtp:b');
  assert.equal(table.takeMaxima().maxima.length, 0);
});

const DATES: Array<[Date, string]> = [
  [new Date(2026, 11, 3, 9, 5, 7), 'Dec  3 09:05:07'],
  [new Date(2026, 0, 21, 23, 59, 59), 'Jan 21 23:59:59'],
];

for (const [date, text] of DATES) {
  test(`ctime15 does print ${text} as ctime(3) does`, () => {
    assert.equal(ctime15(date.getTime()), text);
  });
}
