// The catalog test: every parameter of every area file is named once
// and has a type, a default and a doc line; bounds and units fit.

import test from 'node:test';
import assert from 'node:assert/strict';
import { PARAM_TYPES, TIME_UNITS } from './param_def';
import { ALL_PARAMS } from './params';
import { PARAMS as GLOBAL } from './params_global';
import { PARAMS as SMTPD } from './params_smtpd';
import { PARAMS as CLEANUP } from './params_cleanup';
import { PARAMS as QMGR } from './params_qmgr';
import { PARAMS as LOCAL } from './params_local';
import { PARAMS as TABLES } from './params_tables';
import { PARAMS as COMMANDS } from './params_commands';
import { PARAMS as SMTP } from './params_smtp';

// Every area file by name, so that a duplicate names where it is.
const AREAS = {
  params_global: GLOBAL,
  params_smtpd: SMTPD,
  params_cleanup: CLEANUP,
  params_qmgr: QMGR,
  params_local: LOCAL,
  params_tables: TABLES,
  params_commands: COMMANDS,
  params_smtp: SMTP,
};

test('names each catalog parameter once', () => {
  const areas = new Map<string, string[]>();
  for (const [area, params] of Object.entries(AREAS))
    for (const def of params)
      areas.set(def.name, [...(areas.get(def.name) ?? []), area]);
  const duplicates = [...areas]
    .filter(([, where]) => where.length > 1)
    .map(([name, where]) => `${name} in ${where.join(' and ')}`);
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

test('joins every area file into the catalog', () => {
  const total = Object.values(AREAS).reduce((n, p) => n + p.length, 0);
  assert.equal(ALL_PARAMS.length, total);
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
