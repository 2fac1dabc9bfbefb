// Tests for scache.ts's statistics lines, which keep Postfix's scache(8)
// wording so that log readers that know Postfix read ours.

import test from 'node:test';
import assert from 'node:assert/strict';
import { statisticsLines } from './scache';

test('does log statistics in the shape of Postfix scache', () => {
  const stats = {
    destHits: 3,
    destMisses: 1,
    endpHits: 0,
    endpMisses: 0,
    maxDests: 1,
    maxEndps: 2,
    maxSessions: 5,
  };
  const start = new Date(Date.UTC(2026, 11, 3, 9, 5, 7));
  assert.deepEqual(statisticsLines(stats, start), [
    'statistics: start interval Dec  3 09:05:07',
    'statistics: domain lookup hits=3 miss=1 success=75%',
    'statistics: address lookup hits=0 miss=0 success=0%',
    'statistics: max simultaneous domains=1 addresses=2 connection=5',
  ]);
});
