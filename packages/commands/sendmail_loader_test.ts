// Tests of sendmail_loader: the code cache V8 takes or refuses; the
// loader run as a real node process from a copy of itself beside small
// programs (a bundle or tsc output); and the real build's caches.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { compileBundle, writeCodeCache } from './sendmail_loader';

const LOADER = path.join(__dirname, 'sendmail_loader.js');
const PROGRAM = `process.stdout.write(JSON.stringify({
  kind: KIND, argv: process.argv.slice(1), dir: __dirname,
  helper: require('./helper.js'),
}));`;
const HELPER = "module.exports = 'found beside';\n";

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'loader-test-'));
}

function runLoader(dir: string, args: string[]) {
  const r = spawnSync(
    process.execPath,
    [path.join(dir, 'sendmail_loader.js'), ...args],
    {
      encoding: 'utf8',
    },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('writeCodeCache writes a cache that V8 takes for the same text', () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'x_bundle.js');
    fs.writeFileSync(file, '#!/usr/bin/env node\nmodule.exports = 42;\n');
    writeCodeCache(file, `${file}.cache`);
    const script = compileBundle(file, fs.readFileSync(`${file}.cache`));
    assert.equal(script.cachedDataRejected, false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('compileBundle compiles anew when the cache is of another text', () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'x_bundle.js');
    fs.writeFileSync(file, 'module.exports = 1;\n');
    writeCodeCache(file, `${file}.cache`);
    fs.writeFileSync(file, 'module.exports = "changed text";\n');
    const script = compileBundle(file, fs.readFileSync(`${file}.cache`));
    assert.equal(script.cachedDataRejected, true);
    const module = { exports: {} as unknown };
    (script.runInThisContext() as (...a: unknown[]) => void)(
      module.exports,
      require,
      module,
    );
    assert.equal(module.exports, 'changed text');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// A copy of the loader in dist/packages/commands of a folder of its own,
// beside fake programs; a bundle's list of inputs names the tsc output,
// which is older than the bundle unless the case says otherwise.
function loaderDir(files: Record<string, string>, tscAfter = false): string {
  const top = tempDir();
  const dir = path.join(top, 'dist', 'packages', 'commands');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(LOADER, path.join(dir, 'sendmail_loader.js'));
  for (const [name, text] of Object.entries(files))
    fs.writeFileSync(path.join(dir, name), text);
  const bundleTime = new Date('2026-01-01T00:00:00Z');
  const tscTime = new Date(bundleTime.getTime() + (tscAfter ? 1000 : -1000));
  for (const name of Object.keys(files)) {
    const file = path.join(dir, name);
    if (name.endsWith('_bundle.js'))
      fs.utimesSync(file, bundleTime, bundleTime);
    else if (!name.endsWith('.inputs')) fs.utimesSync(file, tscTime, tscTime);
  }
  return dir;
}

function removeLoaderDir(dir: string): void {
  const top = path.resolve(dir, '..', '..', '..');
  fs.rmSync(top, { recursive: true, force: true });
}

const INPUTS = JSON.stringify(['dist/packages/commands/sendmail.js']);

interface LoaderCase {
  name: string;
  files: Record<string, string>;
  tscAfter?: boolean; // the tsc output is newer than the bundle
  args: string[];
  kind: string;
}

const TABLE: LoaderCase[] = [
  {
    name: 'runs the bundle with argv[1] the program name when it is current',
    files: {
      'sendmail_bundle.js': `const KIND = 'bundle';\n${PROGRAM}`,
      'sendmail_bundle.inputs': INPUTS,
      'sendmail.js': `const KIND = 'tsc';\n${PROGRAM}`,
      'helper.js': HELPER,
    },
    args: ['sendmail', 'mailq', '-v', 'x'],
    kind: 'bundle',
  },
  {
    name: 'runs the tsc output when it is newer than the bundle',
    files: {
      'sendmail_bundle.js': `const KIND = 'bundle';\n${PROGRAM}`,
      'sendmail_bundle.inputs': INPUTS,
      'sendmail.js': `const KIND = 'tsc';\n${PROGRAM}`,
      'helper.js': HELPER,
    },
    tscAfter: true,
    args: ['sendmail', 'sendmail', '-bp'],
    kind: 'tsc',
  },
  {
    name: 'runs the tsc output when the bundle has no list of inputs',
    files: {
      'sendmail_bundle.js': `const KIND = 'bundle';\n${PROGRAM}`,
      'sendmail.js': `const KIND = 'tsc';\n${PROGRAM}`,
      'helper.js': HELPER,
    },
    args: ['sendmail', 'sendmail'],
    kind: 'tsc',
  },
  {
    name: 'runs the tsc output when there is no bundle',
    files: {
      'postdrop.js': `const KIND = 'tsc';\n${PROGRAM}`,
      'helper.js': HELPER,
    },
    args: ['postdrop', 'postdrop', '-v', 'x'],
    kind: 'tsc',
  },
];

for (const t of TABLE)
  test(`the loader ${t.name}`, () => {
    const dir = loaderDir(t.files, t.tscAfter);
    try {
      const r = runLoader(dir, t.args);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.kind, t.kind);
      assert.deepEqual(out.argv, t.args.slice(1));
      assert.equal(fs.realpathSync(out.dir), fs.realpathSync(dir));
      assert.equal(out.helper, 'found beside');
    } finally {
      removeLoaderDir(dir);
    }
  });

test('the loader answers a usage message and 64 when the bundle name is unknown', () => {
  const dir = loaderDir({});
  try {
    const r = runLoader(dir, ['postsuper', 'postsuper']);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /^sendmail_loader: usage: /);
  } finally {
    removeLoaderDir(dir);
  }
});

// What `npm run build` made: the cache must fit this node, or every
// start compiles the whole bundle.
for (const name of ['sendmail', 'postdrop', 'postqueue']) {
  const file = path.join(__dirname, `${name}_bundle.js`);
  const cache = path.join(__dirname, `${name}_bundle.cache`);
  const skip = fs.existsSync(cache) ? false : 'no bundle: npm run build';
  test(
    `the build's ${name} bundle has a code cache that V8 takes`,
    { skip },
    () => {
      const script = compileBundle(file, fs.readFileSync(cache));
      assert.equal(script.cachedDataRejected, false);
    },
  );
}
