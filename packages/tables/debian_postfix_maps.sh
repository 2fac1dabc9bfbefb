#!/bin/sh
# debian_postfix_maps.sh: unpack Debian's postfix with its lmdb and cdb
# plugins (and liblmdb, libcdb) in a cache folder, write a config folder
# for them, and print "SBIN CONFIG LIBS" for test/tables_postmap_test.ts,
# which checks our table files against Postfix's own. Nothing is
# installed system-wide. Exits 1, printing nothing, without apt-get.
set -eu

cache=${POSTFIX_DEB_CACHE:-/var/cache/postfix-ts}/maps
mkdir -p "$cache" 2>/dev/null || cache=${HOME:-/tmp}/.cache/postfix-ts/maps
root=$cache/root
conf=$cache/etc
libs=$root/usr/lib/postfix:$root/usr/lib/x86_64-linux-gnu

if [ ! -f "$root/usr/lib/postfix/postfix-lmdb.so" ]; then
  command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 || exit 1
  mkdir -p "$cache/debs"
  packages="postfix postfix-lmdb postfix-cdb liblmdb0 libcdb1"
  (cd "$cache/debs" && { apt-get download $packages >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get download $packages >/dev/null 2>&1; }; }) || exit 1
  tmp=$(mktemp -d "$cache/root.XXXXXX")
  for deb in "$cache"/debs/*.deb; do dpkg -x "$deb" "$tmp"; done
  rm -rf "$root"
  mv "$tmp" "$root"
fi

mkdir -p "$conf"
cat >"$conf/main.cf" <<EOT
compatibility_level = 3.6
shlib_directory = $root/usr/lib/postfix
daemon_directory = $root/usr/lib/postfix/sbin
meta_directory = $conf
default_database_type = lmdb
EOT
printf 'lmdb\tpostfix-lmdb.so\tdict_lmdb_open\tmkmap_lmdb_open\n' >"$conf/dynamicmaps.cf"
printf 'cdb\tpostfix-cdb.so\tdict_cdb_open\tmkmap_cdb_open\n' >>"$conf/dynamicmaps.cf"
echo "$root/usr/sbin $conf $libs"
