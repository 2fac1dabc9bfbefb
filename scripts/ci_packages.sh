#!/bin/sh
# Debian packages that the tests need beyond Node: Dovecot's LMTP server
# for test/lmtp_dovecot_test.ts and its LDA (dovecot-core) for
# test/pipe_dovecot_test.ts; PostgreSQL and OpenLDAP's slapd for the
# pgsql: and ldap: tables (packages/tables/dict_*_test.ts and
# test/tables_sql_ldap_test.ts). .ci/run calls this before the tests; it
# runs apt-get only when a binary is missing, so a warm machine pays nothing.
set -e

need_install=
command -v dovecot >/dev/null 2>&1 || need_install="$need_install dovecot-lmtpd"
[ -x /usr/lib/dovecot/dovecot-lda ] || need_install="$need_install dovecot-core"
# The tests start their own servers; the packages' own ones are not used
# (policy-rc.d in containers keeps them from starting).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ||
  need_install="$need_install postgresql"
[ -x /usr/sbin/slapd ] || need_install="$need_install slapd"
command -v ldapsearch >/dev/null 2>&1 || need_install="$need_install ldap-utils"

if [ -n "$need_install" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y $need_install || {
    apt-get update
    apt-get install -y $need_install
  }
fi
