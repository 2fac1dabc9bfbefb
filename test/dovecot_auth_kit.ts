// A private Dovecot auth service for smtpd's SASL tests: its own
// configuration and password file in a temporary folder, the auth
// socket there for smtpd_sasl_path. Needs root and dovecot; no system
// configuration is read. Used by test/smtpd_sasl_test.ts.

import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface DovecotAuthServer {
  socket: string;
  stop(): Promise<void>;
}

export function dovecotAuthAvailable(): boolean {
  const found = cp.spawnSync('dovecot', ['--version'], { stdio: 'ignore' });
  return found.status === 0 && process.getuid?.() === 0;
}

function config(dir: string): string {
  return `base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols =
ssl = no
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN ${dir}/passwd
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=/nonexistent
}
service auth {
  unix_listener ${dir}/auth {
    mode = 0666
  }
}
`;
}

// users: name -> password.
export async function startDovecotAuth(
  users: Record<string, string>,
): Promise<DovecotAuthServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dovecot-auth-'));
  fs.chmodSync(dir, 0o755);
  const lines = Object.entries(users).map(([u, p]) => `${u}:{PLAIN}${p}`);
  fs.writeFileSync(path.join(dir, 'passwd'), lines.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'dovecot.conf'), config(dir));
  const child = cp.spawn(
    'dovecot',
    ['-c', path.join(dir, 'dovecot.conf'), '-F'],
    { stdio: 'ignore' },
  );
  const socket = path.join(dir, 'auth');
  for (let i = 0; i < 100 && !fs.existsSync(socket); i++)
    await new Promise((r) => setTimeout(r, 50));
  if (!fs.existsSync(socket)) {
    child.kill('SIGKILL');
    const log = fs.readFileSync(path.join(dir, 'dovecot.log'), 'utf8');
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`dovecot auth did not start: ${log}`);
  }
  return {
    socket,
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
