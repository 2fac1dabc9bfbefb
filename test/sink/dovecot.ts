// A private Dovecot LMTP server for the lmtp client's tests: its own
// configuration, users and Maildirs in a temporary folder, listening on
// a Unix socket and a loopback TCP port. Needs root and the dovecot-lmtpd
// package (scripts/ci_packages.sh installs it); no system config is read.

import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Dovecot {
  dir: string;
  socket: string; // LMTP Unix socket
  port: number; // LMTP on 127.0.0.1
  maildir(user: string): string[]; // messages in new/
  stop(): Promise<void>;
}

export function dovecotAvailable(): boolean {
  const found = cp.spawnSync('dovecot', ['--version'], { stdio: 'ignore' });
  return found.status === 0 && process.getuid?.() === 0;
}

// users: name -> writable; an unwritable home makes Dovecot refuse that
// recipient after DATA while the others are stored.
function writeConfig(
  dir: string,
  port: number,
  users: Record<string, boolean>,
) {
  const lines = Object.keys(users).map(
    (u) => `${u}::65534:65534::${path.join(dir, 'mail', u)}::`,
  );
  fs.writeFileSync(path.join(dir, 'users'), lines.join('\n') + '\n');
  for (const [user, writable] of Object.entries(users)) {
    const home = path.join(dir, 'mail', user);
    fs.mkdirSync(home, { recursive: true });
    if (writable) fs.chownSync(home, 65534, 65534);
  }
  fs.writeFileSync(path.join(dir, 'dovecot.conf'), config(dir, port));
}

function config(dir: string, port: number): string {
  return `base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = lmtp
ssl = no
listen = 127.0.0.1
mail_location = maildir:~/Maildir
auth_username_format = %Ln
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = passwd-file
  args = ${dir}/users
}
service lmtp {
  unix_listener ${dir}/lmtp {
    mode = 0666
  }
  inet_listener lmtp {
    address = 127.0.0.1
    port = ${port}
  }
}
`;
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`dovecot: ${what} did not appear`);
}

export async function startDovecot(
  port: number,
  users: Record<string, boolean>,
): Promise<Dovecot> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dovecot-'));
  fs.chmodSync(dir, 0o755);
  writeConfig(dir, port, users);
  const child = cp.spawn(
    'dovecot',
    ['-c', path.join(dir, 'dovecot.conf'), '-F'],
    {
      stdio: 'ignore',
    },
  );
  const socket = path.join(dir, 'lmtp');
  await waitFor(() => fs.existsSync(socket), socket);
  return {
    dir,
    socket,
    port,
    maildir: (user) => {
      const nd = path.join(dir, 'mail', user, 'Maildir', 'new');
      if (!fs.existsSync(nd)) return [];
      return fs
        .readdirSync(nd)
        .map((f) => fs.readFileSync(path.join(nd, f), 'utf8'));
    },
    stop: async () => {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
