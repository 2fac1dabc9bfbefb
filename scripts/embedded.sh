#!/bin/sh
# Install, build and start an instance on the embedded default: everything
# in one folder of its own (default ./instance), SMTP on 127.0.0.1:2525,
# mail for user@localhost delivered to <folder>/mail/user/ (a Maildir).
# Usage: scripts/embedded.sh [folder]   (run it again to restart)
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$here/instance}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cd "$here"

[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build

mkdir -p "$dir/etc" "$dir/log" "$dir/mail" "$dir/queue" "$dir/data"
owner=
if [ "$(id -u)" = 0 ]; then
	# As root the instance runs Postfix's way: daemons as "postfix".
	getent group postdrop >/dev/null || groupadd -r postdrop
	id postfix >/dev/null 2>&1 ||
		useradd -r -M -d /nonexistent -s /usr/sbin/nologin -U postfix
	owner="mail_owner = postfix"
	chown postfix:postfix "$dir/mail"
fi

[ -f "$dir/etc/aliases" ] || printf '# name: target, target...\n' >"$dir/etc/aliases"
if [ ! -f "$dir/etc/main.cf" ]; then
	cat >"$dir/etc/main.cf" <<EOT
# main.cf of the embedded instance made by scripts/embedded.sh. Edit it
# and run "npx postfix -c $dir/etc reload"; postconf -n lists it.
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
maillog_file = $dir/log/maillog
myhostname = localhost.localdomain
mydestination = \$myhostname, localhost.\$mydomain, localhost
inet_interfaces = 127.0.0.1
mynetworks = 127.0.0.0/8
alias_maps = texthash:$dir/etc/aliases
alias_database = texthash:$dir/etc/aliases
# Any local name is a mailbox: accept it at RCPT and deliver it to a
# Maildir below mail_spool_directory (the trailing / means Maildir).
local_recipient_maps =
mail_spool_directory = $dir/mail/
local_delivery_without_passwd = yes
$owner
EOT
fi
if [ ! -f "$dir/etc/master.cf" ]; then
	sed -e 's/^smtp\( *\)inet /127.0.0.1:2525 inet /' master.cf >"$dir/etc/master.cf"
fi

postfix="node $here/dist/packages/commands/postfix.js -c $dir/etc"
if $postfix status >/dev/null 2>&1; then $postfix stop; fi
$postfix start

cat <<EOT

The instance is running.
  configuration  $dir/etc/main.cf, $dir/etc/master.cf
  queue          $dir/queue
  log            $dir/log/maillog
  mailboxes      $dir/mail/<user>/  (Maildir; mail to <user>@localhost)
  SMTP           127.0.0.1:2525
Try:   swaks --server 127.0.0.1:2525 --to you@localhost
Stop:  npx postfix -c $dir/etc stop
EOT
