#!/bin/sh
# debian_postfix.sh: print the root of Debian's postfix package unpacked
# in a cache folder, downloading and unpacking it first when missing.
# Tests use it to run Debian's own postcat on our queue files; run its
# programs with LD_LIBRARY_PATH=<root>/usr/lib/postfix. Needs apt-get
# and dpkg (Debian or Ubuntu); prints nothing and exits 1 without them.
set -eu

cache=${POSTFIX_DEB_CACHE:-}
if [ -z "$cache" ]; then
  if [ -n "${XDG_CACHE_HOME:-}" ]; then
    cache=$XDG_CACHE_HOME/postfix-ts
  elif [ -w /var/cache ] || [ -d /var/cache/postfix-ts ]; then
    cache=/var/cache/postfix-ts
  else
    cache=${HOME:-/tmp}/.cache/postfix-ts
  fi
fi
root=$cache/root

if [ -x "$root/usr/sbin/postcat" ]; then
  echo "$root"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 || {
  echo "debian_postfix.sh: apt-get and dpkg are needed" >&2
  exit 1
}

mkdir -p "$cache/debs"
if ! ls "$cache"/debs/postfix_*.deb >/dev/null 2>&1; then
  (cd "$cache/debs" &&
    { apt-get download postfix >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && apt-get download postfix >/dev/null; }; })
fi

# Unpack beside the final name and rename, so that a concurrent run
# never sees half a tree.
tmp=$(mktemp -d "$cache/root.XXXXXX")
dpkg -x "$(ls "$cache"/debs/postfix_*.deb | tail -1)" "$tmp"
if [ -x "$root/usr/sbin/postcat" ]; then
  rm -rf "$tmp"
else
  rm -rf "$root"
  mv "$tmp" "$root"
fi
echo "$root"
