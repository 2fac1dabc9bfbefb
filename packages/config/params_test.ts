// The catalog test: every parameter of every area file is named once
// and has a type, a default and a doc line; bounds and units fit.

import test from 'node:test';
import assert from 'node:assert/strict';
import { PARAM_TYPES, TIME_UNITS } from './param_def';
import { ALL_PARAMS } from './params';
import { PARAMS as GLOBAL } from './params_global';

test('names each catalog parameter once', () => {
  const seen = new Set<string>();
  const duplicates = ALL_PARAMS.map((def) => def.name).filter(
    (name) => seen.has(name) || !seen.add(name),
  );
  assert.deepEqual(duplicates, []);
});

test('gives each catalog parameter a type, default and doc', () => {
  const bad = ALL_PARAMS.filter(
    (def) =>
      !/^[a-z0-9_]+$/i.test(def.name) ||
      !PARAM_TYPES.includes(def.type) ||
      (typeof def.default !== 'string' && typeof def.default !== 'function') ||
      typeof def.doc !== 'string' ||
      def.doc.trim() === '',
  );
  assert.deepEqual(
    bad.map((def) => def.name),
    [],
  );
});

test('keeps bounds on numbers and units on times only', () => {
  const bad = ALL_PARAMS.filter(
    (def) =>
      ((def.min !== undefined || def.max !== undefined) &&
        !['int', 'size', 'time'].includes(def.type)) ||
      (def.unit !== undefined &&
        (def.type !== 'time' || !(def.unit in TIME_UNITS))),
  );
  assert.deepEqual(
    bad.map((def) => def.name),
    [],
  );
});

test('has the system-wide parameters the other parts rely on', () => {
  const names = new Set(GLOBAL.map((def) => def.name));
  for (const name of [
    'myhostname',
    'mydomain',
    'queue_directory',
    'daemon_directory',
    'default_process_limit',
    'max_clients_per_process',
    'hash_queue_depth',
    'process_id',
    'service_name',
  ])
    assert.ok(names.has(name), name);
});
