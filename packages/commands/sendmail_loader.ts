// Starts sendmail, postdrop or postqueue from the esbuild bundle and V8
// code cache that scripts/build_commands.js makes, so that node neither
// finds nor compiles some 30 files: `node sendmail_loader.js BUNDLE
// PROGRAM [args]`, run by the bin shims and the setgid launcher. Without
// a current bundle it runs the tsc output; another node's cache is unused.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { createRequire } from 'node:module';

const BUNDLES = ['sendmail', 'postdrop', 'postqueue'] as const;
// The repository, from dist/packages/commands.
const REPO = path.join(__dirname, '..', '..', '..');

function readCache(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

// As node's own loader wraps a CommonJS file. The cache is only good
// for this exact text, so the build compiles it here too.
export function compileBundle(file: string, cachedData?: Buffer): vm.Script {
  const source = fs.readFileSync(file, 'utf8').replace(/^#!.*/, '');
  const wrapped =
    '(function (exports, require, module, __filename, __dirname) { ' +
    source +
    '\n})';
  return new vm.Script(wrapped, { filename: file, cachedData });
}

// For scripts/build_commands.js: the code cache of a bundle.
export function writeCodeCache(file: string, cacheFile: string): void {
  fs.writeFileSync(cacheFile, compileBundle(file).createCachedData());
}

// V8 takes the cache's bytecode when it is of the same V8 and flags,
// and otherwise compiles the text.
function runBundle(file: string, cacheFile: string): void {
  const script = compileBundle(file, readCache(cacheFile));
  const module = { exports: {}, filename: file, id: file };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run(module.exports, createRequire(file), module, file, path.dirname(file));
}

// A bundle is current when none of the files it was made of (their tsc
// output, listed by the build) is newer: after `npx tsc -p .` alone, or
// an npm update, the tsc output runs instead of old code.
function isCurrent(bundle: string, inputsFile: string): boolean {
  try {
    const made = fs.statSync(bundle).mtimeMs;
    const inputs = JSON.parse(fs.readFileSync(inputsFile, 'utf8'));
    return inputs.every(
      (f: string) => fs.statSync(path.join(REPO, f)).mtimeMs <= made,
    );
  } catch {
    return false;
  }
}

// argv becomes [node, PROGRAM, args...]: the commands read their name
// from argv[1] (mailq is sendmail under another name).
function main(): void {
  const [bundle, program, ...args] = process.argv.slice(2);
  if (!BUNDLES.includes(bundle as (typeof BUNDLES)[number]) || !program) {
    process.stderr.write(
      `sendmail_loader: usage: sendmail_loader ${BUNDLES.join('|')} program [args]\n`,
    );
    process.exit(64);
  }
  process.argv = [process.argv[0], program, ...args];
  const base = path.join(__dirname, `${bundle}_bundle`);
  if (isCurrent(`${base}.js`, `${base}.inputs`))
    runBundle(`${base}.js`, `${base}.cache`);
  else require(`./${bundle}.js`);
}

if (require.main === module) main();
