#!/bin/sh
# Rebuilds the lmdb npm package from source with LMDB's data format 1,
# the format of the liblmdb that Postfix links (0.9.x): the prebuilt
# binary uses format 2, which Postfix cannot read and whose reader
# crashes on Postfix's files. Run after npm install (needs g++, make,
# python3 and the Node headers that ship with node); idempotent.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
lmdb="$root/node_modules/lmdb"
[ -d "$lmdb" ] || { echo "lmdb_data_v1: $lmdb: not installed" >&2; exit 1; }
if node -e "process.exit(require('$lmdb').version.patch < 90 ? 0 : 1)"; then
  exit 0 # already format 1
fi
nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
gyp=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
[ -f "$nodedir/include/node/node_version.h" ] || nodedir=/usr
cd "$lmdb"
log=$(mktemp)
if ! LMDB_DATA_V1=true node "$gyp" rebuild --nodedir="$nodedir" >"$log" 2>&1; then
  tail -20 "$log" >&2
  rm -f "$log"
  echo "lmdb_data_v1: build failed" >&2
  exit 1
fi
rm -f "$log"
node -e "const v=require('$lmdb').version; if (v.patch >= 90) process.exit(1); console.log('lmdb_data_v1: ' + v.versionString)"
