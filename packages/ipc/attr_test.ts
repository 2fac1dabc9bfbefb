// Tests of AttrStream's record encoder against the queue-file codec's:
// the same bytes for every length class of the record length field.

import test from 'node:test';
import assert from 'node:assert/strict';
import { encodeRecord } from '../queue/record';
import { recordBytes } from './attr';

test('does encode records as encodeRecord does, whatever their length', () => {
  const lengths = [0, 1, 127, 128, 129, 16383, 16384, 2_097_151, 2_097_152];
  for (const length of lengths) {
    const bytes = Buffer.alloc(length, 0x61);
    assert.deepEqual(
      recordBytes('N', bytes),
      encodeRecord('N', bytes),
      `${length}`,
    );
    const text = 'é'.repeat(Math.ceil(length / 2));
    assert.deepEqual(
      recordBytes('L', text),
      encodeRecord('L', text),
      `${length} utf8`,
    );
  }
});

test('does copy the data, so that the caller may reuse its buffer', () => {
  const data = Buffer.from('line');
  const out = recordBytes('N', data);
  data.fill(0x7a);
  assert.equal(out.subarray(2).toString(), 'line');
});
