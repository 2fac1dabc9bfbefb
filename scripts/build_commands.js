#!/usr/bin/env node
// build_commands: after tsc, bundles the submission commands (sendmail,
// postdrop) into one file each with esbuild and makes each bundle a node
// startup snapshot, so that a submission starts with its modules loaded.
// Run by `npm run build`; the bin shims and the setgid launcher use the
// snapshots. Limits: a snapshot fits only the node that built it (the
// shims and the launcher then fall back to the plain program).

'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const REPO = path.resolve(__dirname, '..');
const OUT = path.join(REPO, 'dist', 'packages', 'commands');
// XXX postqueue is left out: it reads queue files through fs-ext, a
// native addon, and a snapshot can hold no module but node's own.
const COMMANDS = ['sendmail', 'postdrop'];
// Native addons cannot be bundled; none is on these paths.
const EXTERNAL = ['fs-ext'];

// Beside the tsc output, at the same depth, so that __dirname-relative
// paths (the install root, postdrop.js) mean the same in both.
function bundle(esbuild, name) {
  const outfile = path.join(OUT, `${name}_bundle.js`);
  esbuild.buildSync({
    entryPoints: [path.join(REPO, 'packages', 'commands', `${name}.ts`)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: EXTERNAL,
    logLevel: 'warning',
  });
  return outfile;
}

// A failed snapshot is not a failed build: the program runs without it.
function snapshot(name, bundled) {
  const blob = path.join(OUT, `${name}.blob`);
  fs.rmSync(blob, { force: true });
  const r = spawnSync(
    process.execPath,
    ['--no-warnings', '--snapshot-blob', blob, '--build-snapshot', bundled],
    { encoding: 'utf8', cwd: OUT },
  );
  if (r.status === 0 && fs.existsSync(blob)) return blob;
  fs.rmSync(blob, { force: true });
  const why = (r.stderr || r.error?.message || '').split('\n')[0];
  console.warn(`build_commands: warning: no snapshot of ${name}: ${why}`);
  return null;
}

function main() {
  let esbuild;
  try {
    esbuild = require('esbuild');
  } catch (err) {
    console.warn(`build_commands: warning: no bundles: ${err.message}`);
    return;
  }
  for (const name of COMMANDS) {
    const bundled = bundle(esbuild, name);
    snapshot(name, bundled);
  }
}

main();
