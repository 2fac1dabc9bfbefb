// Starts a submission command (sendmail, postdrop, postqueue) from its
// esbuild bundle with V8's code cache, both made by scripts/
// build_commands.js, so that node neither finds nor compiles some 30
// files. Run by the bin shims and the setgid launcher as `node
// sendmail_loader.js BUNDLE PROGRAM [args]`; without a current bundle it
// runs the tsc output. Limits: a cache of another node is compiled anew.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { createRequire } from 'node:module';

const BUNDLES = ['sendmail', 'postdrop', 'postqueue'] as const;
// tsconfig.json's tsBuildInfoFile, from dist/packages/commands.
const TSC_BUILD_INFO = path.join(__dirname, '..', '..', '.tsbuildinfo');

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

// A bundle older than tsc's last build (`npx tsc -p .` alone, or a tsc
// run that failed) may hold old code: then the tsc output runs.
function isCurrent(bundle: string): boolean {
  let made: number;
  try {
    made = fs.statSync(bundle).mtimeMs;
  } catch {
    return false;
  }
  try {
    return made >= fs.statSync(TSC_BUILD_INFO).mtimeMs;
  } catch {
    return true;
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
  const file = path.join(__dirname, `${bundle}_bundle.js`);
  if (isCurrent(file))
    runBundle(file, path.join(__dirname, `${bundle}_bundle.cache`));
  else require(`./${bundle}.js`);
}

if (require.main === module) main();
