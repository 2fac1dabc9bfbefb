#!/usr/bin/env node
// Runs every compiled test (dist/**/*_test.js) under node:test. Node 20's
// --test takes no globs, so this finds the files. Arguments narrow the run
// to files whose path contains one of them.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..', 'dist');
const filters = process.argv.slice(2);

function find(dir, out) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) find(full, out);
    else if (entry.name.endsWith('_test.js')) out.push(full);
  }
  return out;
}

let files = find(root, []).sort();
if (filters.length)
  files = files.filter((f) => filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('run_tests: no test files found under dist/');
  process.exit(1);
}

// Load tests run alone after the rest: they kill daemons and time
// recovery, and another test's load on two cores only adds noise.
const ALONE = [/crash_test\.js$/];
const alone = files.filter((f) => ALONE.some((re) => re.test(f)));
const together = files.filter((f) => !alone.includes(f));

function run(list, concurrency) {
  if (list.length === 0) return 0;
  const result = spawnSync(
    process.execPath,
    ['--test', `--test-concurrency=${concurrency}`, ...list],
    { stdio: 'inherit' },
  );
  return result.status ?? 1;
}

const first = run(together, process.env.TEST_CONCURRENCY || '2');
const second = run(alone, '1');
process.exit(first || second);
