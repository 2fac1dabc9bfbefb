#!/usr/bin/env node
// build_commands: after tsc, bundles the submission commands (sendmail,
// postdrop, postqueue) into one file each with esbuild and writes V8's
// code cache of each, so that a submission starts without finding and
// compiling some 30 files. Run by `npm run build`; sendmail_loader.js
// (which the bin shims and the setgid launcher run) uses them.

'use strict';
const fs = require('node:fs');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..');
const OUT = path.join(REPO, 'dist', 'packages', 'commands');
const COMMANDS = ['sendmail', 'postdrop', 'postqueue'];
// A native addon cannot be bundled: the bundle requires it at run time.
const EXTERNAL = ['fs-ext'];

// The loader runs a bundle only while no file it was made of is newer:
// for a TypeScript source, its tsc output. Paths are from the repository.
function inputsOf(metafile) {
  return Object.keys(metafile.inputs).map((f) =>
    f.endsWith('.ts') ? path.join('dist', f.replace(/\.ts$/, '.js')) : f,
  );
}

// Beside the tsc output, at the same depth, so that __dirname-relative
// paths (the install root, postdrop.js) mean the same in both.
function bundle(esbuild, name) {
  const outfile = path.join(OUT, `${name}_bundle.js`);
  const result = esbuild.buildSync({
    absWorkingDir: REPO,
    metafile: true,
    entryPoints: [path.join(REPO, 'packages', 'commands', `${name}.ts`)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: EXTERNAL,
    logLevel: 'warning',
  });
  const inputs = JSON.stringify(inputsOf(result.metafile), null, 1);
  fs.writeFileSync(path.join(OUT, `${name}_bundle.inputs`), inputs + '\n');
  return outfile;
}

// Without esbuild (an install without dev packages) the loader runs the
// tsc output: a bundle left from an earlier build would be stale.
function removeBundles() {
  for (const name of COMMANDS)
    for (const suffix of ['_bundle.js', '_bundle.cache', '_bundle.inputs'])
      fs.rmSync(path.join(OUT, name + suffix), { force: true });
}

function main() {
  let esbuild;
  try {
    esbuild = require('esbuild');
  } catch (err) {
    console.warn(`build_commands: warning: no bundles: ${err.message}`);
    return removeBundles();
  }
  const { writeCodeCache } = require(path.join(OUT, 'sendmail_loader.js'));
  for (const name of COMMANDS) {
    const file = bundle(esbuild, name);
    writeCodeCache(file, path.join(OUT, `${name}_bundle.cache`));
  }
}

main();
