// Real PostgreSQL and OpenLDAP servers for the pgsql: and ldap: tests,
// each in its own temporary folder: a cluster from initdb on a Unix
// socket there and a loopback port, and slapd (mdb) on ldapi:// there
// and a loopback port. As root they run as postgres and openldap. A
// missing binary gives a reason for the test to skip, not a failure.

import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const PG_LIB = '/usr/lib/postgresql'; // Debian: one folder per version
const SLAPD = '/usr/sbin/slapd';
const SLAPADD = '/usr/sbin/slapadd';
export const LDAP_SUFFIX = 'dc=example,dc=com';
export const LDAP_ADMIN = `cn=admin,${LDAP_SUFFIX}`;
export const LDAP_PASSWORD = 'secret';
export const PG_USER = 'mail';
export const PG_PASSWORD = 'secret';
export const PG_DB = 'mail';

interface Owner {
  uid: number;
  gid: number;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function ownerOf(user: string): Owner | undefined {
  if (!isRoot()) return undefined;
  const uid = cp.spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const gid = cp.spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (uid.status !== 0) return undefined;
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

function run(file: string, args: string[], owner?: Owner, input?: string) {
  const out = cp.spawnSync(file, args, {
    encoding: 'utf8',
    input,
    ...(owner && { uid: owner.uid, gid: owner.gid }),
    env: { ...process.env, LC_ALL: 'C' },
  });
  if (out.status !== 0)
    throw new Error(`${file} ${args.join(' ')}: ${out.stderr || out.error}`);
  return out.stdout;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function tempDir(prefix: string, owner?: Owner): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  if (owner) fs.chownSync(dir, owner.uid, owner.gid);
  return dir;
}

// The newest installed version's, else one on the PATH's usual places.
function findPgBin(name: string): string | undefined {
  const versions = fs.existsSync(PG_LIB) ? fs.readdirSync(PG_LIB) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  const dirs = versions.map((v) => path.join(PG_LIB, v, 'bin'));
  dirs.push('/usr/local/bin', '/usr/bin');
  return dirs.map((dir) => path.join(dir, name)).find(fs.existsSync);
}

export class PgTestServer {
  readonly dir: string; // also the Unix socket's folder
  readonly port: number;
  #bin: string;
  #owner?: Owner;
  running = false;

  constructor(dir: string, port: number, bin: string, owner?: Owner) {
    this.dir = dir;
    this.port = port;
    this.#bin = bin;
    this.#owner = owner;
  }

  get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  start(): void {
    const opts = `-k ${this.dir} -p ${this.port} -h 127.0.0.1 -F`;
    const log = path.join(this.dir, 'log');
    run(
      this.#ctl,
      ['-D', this.dataDir, '-w', '-s', '-l', log, '-o', opts, 'start'],
      this.#owner,
    );
    this.running = true;
  }

  stop(): void {
    if (!this.running) return;
    run(
      this.#ctl,
      ['-D', this.dataDir, '-m', 'fast', '-w', '-s', 'stop'],
      this.#owner,
    );
    this.running = false;
  }

  // SQL as the superuser over the socket, stopping at the first error.
  psql(sql: string, db = 'postgres'): string {
    const args = ['-h', this.dir, '-p', String(this.port), '-U', 'postgres'];
    args.push('-d', db, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1');
    return run(path.join(this.#bin, 'psql'), args, undefined, sql);
  }

  destroy(): void {
    try {
      this.stop();
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }

  get #ctl(): string {
    return path.join(this.#bin, 'pg_ctl');
  }
}

// A started cluster with role "mail" (password "secret", the password
// asked on TCP only) owning database "mail", or why there is none.
export async function startPostgres(): Promise<PgTestServer | string> {
  const initdb = findPgBin('initdb');
  if (!initdb || !findPgBin('psql'))
    return 'PostgreSQL is not installed (apt-get install postgresql)';
  const owner = isRoot() ? ownerOf('postgres') : undefined;
  if (isRoot() && !owner) return 'no "postgres" user to run PostgreSQL as';
  const dir = tempDir('pgsql-', owner);
  const server = new PgTestServer(
    dir,
    await freePort(),
    path.dirname(initdb),
    owner,
  );
  try {
    run(
      initdb,
      [
        '-D',
        server.dataDir,
        '-U',
        'postgres',
        '--auth-local=trust',
        '--auth-host=scram-sha-256',
        '--no-sync',
        '-E',
        'UTF8',
        '--locale=C',
      ],
      owner,
    );
    server.start();
    server.psql(`CREATE ROLE ${PG_USER} LOGIN PASSWORD '${PG_PASSWORD}';
      CREATE DATABASE ${PG_DB} OWNER ${PG_USER};`);
  } catch (err) {
    server.destroy();
    throw err;
  }
  return server;
}

export class LdapTestServer {
  readonly dir: string;
  readonly port: number;
  readonly tlsPort: number; // ldaps://
  #child?: cp.ChildProcess;
  #owner?: Owner;

  constructor(dir: string, ports: number[], owner?: Owner) {
    this.dir = dir;
    [this.port, this.tlsPort] = ports;
    this.#owner = owner;
  }

  // The server's self-signed certificate, for 127.0.0.1.
  get certFile(): string {
    return path.join(this.dir, 'cert.pem');
  }

  get tlsUrl(): string {
    return `ldaps://127.0.0.1:${this.tlsPort}`;
  }

  get socket(): string {
    return path.join(this.dir, 'ldapi');
  }

  get ldapiUrl(): string {
    return `ldapi://${encodeURIComponent(this.socket)}`;
  }

  get url(): string {
    return `ldap://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = ['-f', path.join(this.dir, 'slapd.conf'), '-d', '0'];
    args.push('-h', `${this.ldapiUrl} ${this.url}/ ${this.tlsUrl}/`);
    if (this.#owner) args.push('-u', 'openldap', '-g', 'openldap');
    this.#child = cp.spawn(SLAPD, args, { stdio: 'ignore' });
    await waitForPort(this.port, this.#child);
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await gone;
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function slapdConf(dir: string): string {
  const schemas = ['core', 'cosine', 'inetorgperson', 'misc'];
  return [
    ...schemas.map((name) => `include /etc/ldap/schema/${name}.schema`),
    `TLSCertificateFile ${dir}/cert.pem`,
    `TLSCertificateKeyFile ${dir}/key.pem`,
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    `pidfile ${dir}/slapd.pid`,
    'database mdb',
    `suffix "${LDAP_SUFFIX}"`,
    `rootdn "${LDAP_ADMIN}"`,
    `rootpw ${LDAP_PASSWORD}`,
    `directory ${dir}/db`,
    'maxsize 10485760',
    '',
  ].join('\n');
}

// slapd with the entries of ldif (after the suffix's own entry), or why
// there is none.
export async function startSlapd(
  ldif: string,
): Promise<LdapTestServer | string> {
  if (!fs.existsSync(SLAPD) || !fs.existsSync(SLAPADD))
    return 'OpenLDAP is not installed (apt-get install slapd ldap-utils)';
  if (cp.spawnSync('openssl', ['version']).status !== 0)
    return 'openssl is not installed, for the test server certificate';
  const owner = isRoot() ? ownerOf('openldap') : undefined;
  const dir = tempDir('slapd-');
  const ports = [await freePort(), await freePort()];
  const server = new LdapTestServer(dir, ports, owner);
  try {
    makeCertificate(dir);
    fs.mkdirSync(path.join(dir, 'db'));
    fs.writeFileSync(path.join(dir, 'slapd.conf'), slapdConf(dir));
    const top = `dn: ${LDAP_SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n`;
    fs.writeFileSync(path.join(dir, 'data.ldif'), top + ldif);
    run(SLAPADD, [
      '-q',
      '-f',
      path.join(dir, 'slapd.conf'),
      '-l',
      path.join(dir, 'data.ldif'),
    ]);
    if (owner) chownTree(dir, owner);
    await server.start();
  } catch (err) {
    await server.destroy();
    throw err;
  }
  return server;
}

// An EC key is made in a few milliseconds; the address is in the
// subjectAltName so that Node's checks accept it with the CA given.
function makeCertificate(dir: string): void {
  run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    path.join(dir, 'key.pem'),
    '-out',
    path.join(dir, 'cert.pem'),
  ]);
}

function chownTree(dir: string, owner: Owner): void {
  fs.chownSync(dir, owner.uid, owner.gid);
  for (const name of fs.readdirSync(dir, { recursive: true }))
    fs.chownSync(path.join(dir, String(name)), owner.uid, owner.gid);
}

async function waitForPort(port: number, child: cp.ChildProcess) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error('slapd exited at start');
    if (await canConnect(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`slapd: not listening on port ${port} after 10 s`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
