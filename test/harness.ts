// The end-to-end test harness: a whole instance in a temporary folder,
// started with "postfix start" as a user does, on a free port, with a
// small SMTP client to talk to it. Started as root the instance runs
// Postfix's way (daemons as mail_owner "postfix"); otherwise as the user.
//
//   const mta = await startInstance({ main: { message_size_limit: '1000' } });
//   const smtp = await SmtpClient.connect(mta.smtpPort);
//   await mta.stop();

import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..');
export const DIST = path.join(REPO, 'dist');
const POSTFIX = path.join(DIST, 'packages', 'commands', 'postfix.js');

export interface InstanceOptions {
  main?: Record<string, string>; // main.cf settings over the defaults
  master?: string[]; // extra master.cf lines
  // master.cf service names to leave out (e.g. ['qmgr'] to keep mail in
  // incoming/ for a test).
  without?: string[];
  start?: boolean; // default true
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

// Debian's Postfix users; tests running as root need them, as Postfix.
export function ensureMailUsers(): void {
  if (!isRoot()) return;
  const quiet = { stdio: 'ignore' as const };
  if (cp.spawnSync('getent', ['group', 'postdrop'], quiet).status !== 0)
    cp.spawnSync('groupadd', ['-r', 'postdrop'], quiet);
  if (cp.spawnSync('id', ['postfix'], quiet).status !== 0)
    cp.spawnSync(
      'useradd',
      [
        '-r',
        '-M',
        '-d',
        '/nonexistent',
        '-s',
        '/usr/sbin/nologin',
        '-U',
        'postfix',
      ],
      quiet,
    );
}

// Whether a user other than the owner can reach and read the built code
// at file: every folder above it searchable by others. A clone in a 0700
// folder (mktemp -d) is not, and a test that runs our code as an
// unprivileged user must then be skipped, not fail.
export function othersCanRun(file = DIST): boolean {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    if ((fs.statSync(dir).mode & 0o001) === 0) return false;
    if (dir === path.dirname(dir)) return true;
  }
}

export const NOT_REACHABLE =
  'the repository is in a folder other users cannot enter (mode 0700 ' +
  'above it); this test runs our code as an unprivileged user';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

function serviceExists(command: string): boolean {
  return fs.existsSync(path.join(DIST, 'services', command, `${command}.js`));
}

// The shipped master.cf, with smtp on our port and only the services
// whose daemon is built.
export function testMasterCf(port: number, options: InstanceOptions): string {
  const text = fs.readFileSync(path.join(REPO, 'master.cf'), 'utf8');
  const without = new Set(options.without ?? []);
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    if (/^\s*(#|$)/.test(line)) continue;
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8) continue;
    const [name, type] = fields;
    if (without.has(name) || !serviceExists(fields[7])) continue;
    if (name === 'smtp' && type === 'inet') fields[0] = `127.0.0.1:${port}`;
    lines.push(fields.join(' '));
  }
  return [...lines, ...(options.master ?? [])].join('\n') + '\n';
}

export function testMainCf(dir: string, options: InstanceOptions): string {
  const settings: Record<string, string> = {
    compatibility_level: '3.6',
    queue_directory: path.join(dir, 'queue'),
    data_directory: path.join(dir, 'data'),
    maillog_file: path.join(dir, 'log', 'maillog'),
    myhostname: 'mail.test.example',
    mydomain: 'test.example',
    mydestination: '$myhostname, localhost.$mydomain, localhost',
    inet_interfaces: '127.0.0.1',
    mynetworks: '127.0.0.0/8',
    alias_maps: `texthash:${path.join(dir, 'etc', 'aliases')}`,
    alias_database: `texthash:${path.join(dir, 'etc', 'aliases')}`,
    local_recipient_maps: '',
    mail_spool_directory: path.join(dir, 'mail') + '/',
    local_delivery_without_passwd: 'yes',
    smtpd_banner: '$myhostname ESMTP $mail_name',
    // set-permissions installs the setgid launchers here, not in dist/.
    command_directory: path.join(dir, 'bin'),
    ...(options.main ?? {}),
  };
  return Object.entries(settings)
    .map(([name, value]) => `${name} = ${value}`)
    .join('\n');
}

export class Instance {
  readonly dir: string;
  readonly configDir: string;
  readonly queueDir: string;
  readonly logFile: string;
  readonly mailDir: string;
  readonly smtpPort: number;

  constructor(dir: string, port: number) {
    this.dir = dir;
    this.configDir = path.join(dir, 'etc');
    this.queueDir = path.join(dir, 'queue');
    this.logFile = path.join(dir, 'log', 'maillog');
    this.mailDir = path.join(dir, 'mail');
    this.smtpPort = port;
  }

  postfix(...args: string[]): RunResult {
    return runCommand('postfix', ['-c', this.configDir, ...args]);
  }

  // Any command of ours, with MAIL_CONFIG set to this instance.
  command(name: string, args: string[], input?: string): RunResult {
    return runCommand(name, args, input, { MAIL_CONFIG: this.configDir });
  }

  masterPid(): number | null {
    try {
      const text = fs.readFileSync(
        path.join(this.queueDir, 'pid', 'master.pid'),
        'utf8',
      );
      const pid = Number(text.trim());
      return pid > 0 ? pid : null;
    } catch {
      return null;
    }
  }

  log(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  async waitForLog(pattern: RegExp, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.log().match(pattern);
      if (match) return match[0];
      if (Date.now() > deadline)
        throw new Error(
          `no log line ${pattern} within ${timeoutMs} ms:\n${this.log()}`,
        );
      await sleep(100);
    }
  }

  // Messages delivered to user's Maildir (new/ and cur/).
  maildir(user: string): string[] {
    const out: string[] = [];
    for (const sub of ['new', 'cur']) {
      const dir = path.join(this.mailDir, user, sub);
      if (!fs.existsSync(dir)) continue;
      for (const name of fs.readdirSync(dir).sort())
        out.push(fs.readFileSync(path.join(dir, name), 'utf8'));
    }
    return out;
  }

  async waitForMaildir(user: string, count: number, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    while (this.maildir(user).length < count) {
      if (Date.now() > deadline)
        throw new Error(
          `${user}: ${this.maildir(user).length} of ${count} messages delivered:\n${this.log()}`,
        );
      await sleep(100);
    }
    return this.maildir(user);
  }

  // Files in one queue (recursively, for hashed queues).
  queueFiles(queue: string): string[] {
    const out: string[] = [];
    const walk = (dir: string) => {
      if (!fs.existsSync(dir)) return;
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else out.push(full);
      }
    };
    walk(path.join(this.queueDir, queue));
    return out;
  }

  // Every process of the instance: master's process group.
  pids(): number[] {
    const master = this.masterPid();
    if (!master) return [];
    const out = cp.spawnSync('ps', ['-o', 'pid=', '-g', String(master)], {
      encoding: 'utf8',
    });
    return out.stdout
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => n > 0);
  }

  async stop(): Promise<void> {
    const master = this.masterPid();
    this.postfix('abort');
    if (master) {
      try {
        process.kill(-master, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await sleep(50);
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export function runCommand(
  name: string,
  args: string[],
  input?: string,
  env: Record<string, string> = {},
): RunResult {
  const script = path.join(DIST, 'packages', 'commands', `${name}.js`);
  const out = cp.spawnSync(process.execPath, [script, ...args], {
    input,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { code: out.status ?? -1, stdout: out.stdout, stderr: out.stderr };
}

export async function makeInstance(options: InstanceOptions = {}) {
  ensureMailUsers();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pfts-'));
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  const mta = new Instance(dir, port);
  for (const sub of ['etc', 'log', 'mail']) fs.mkdirSync(path.join(dir, sub));
  if (isRoot()) fs.chownSync(mta.mailDir, ...postfixIds());
  fs.writeFileSync(path.join(dir, 'etc', 'aliases'), '');
  fs.writeFileSync(
    path.join(dir, 'etc', 'main.cf'),
    testMainCf(dir, options) + '\n',
  );
  fs.writeFileSync(
    path.join(dir, 'etc', 'master.cf'),
    testMasterCf(port, options),
  );
  return mta;
}

function postfixIds(): [number, number] {
  const out = cp.spawnSync('id', ['-u', 'postfix'], { encoding: 'utf8' });
  const gid = cp.spawnSync('id', ['-g', 'postfix'], { encoding: 'utf8' });
  return [Number(out.stdout.trim()), Number(gid.stdout.trim())];
}

export async function startInstance(options: InstanceOptions = {}) {
  const mta = await makeInstance(options);
  if (options.start === false) return mta;
  const result = mta.postfix('start');
  if (result.code !== 0)
    throw new Error(
      `postfix start failed (${result.code}):\n${result.stderr}\n${mta.log()}`,
    );
  await waitForPort(mta.smtpPort);
  return mta;
}

export async function waitForPort(port: number, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} not open`);
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A line-oriented SMTP client for tests: send lines, read whole replies.
export class SmtpClient {
  #socket: net.Socket;
  #buffer = '';
  #waiters: Array<() => void> = [];
  #closed = false;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      this.#buffer += text;
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number, host = '127.0.0.1'): Promise<SmtpClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host);
      socket.once('connect', () => resolve(new SmtpClient(socket)));
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  // One whole reply (all its lines), or '' when the server closed.
  async reply(timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = replyEnd(this.#buffer);
      if (end > 0) {
        const text = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end);
        return text.replace(/\r\n$/, '');
      }
      if (this.#closed) return '';
      if (Date.now() > deadline)
        throw new Error(`no reply; got ${JSON.stringify(this.#buffer)}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  write(text: string | Buffer): void {
    this.#socket.write(text);
  }

  async command(line: string): Promise<string> {
    this.write(line + '\r\n');
    return this.reply();
  }

  // A whole transaction; returns the final reply to the dot.
  async send(from: string, to: string[], message: string): Promise<string> {
    const replies = [await this.command(`MAIL FROM:<${from}>`)];
    for (const rcpt of to)
      replies.push(await this.command(`RCPT TO:<${rcpt}>`));
    if (!replies.every((r) => r.startsWith('250')))
      throw new Error(`transaction refused: ${replies.join(' | ')}`);
    const data = await this.command('DATA');
    if (!data.startsWith('354')) throw new Error(`DATA refused: ${data}`);
    const body = message.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    this.write(body.endsWith('\r\n') ? body : body + '\r\n');
    return this.command('.');
  }

  close(): void {
    this.#socket.destroy();
  }
}

// Index just past the last line of the first whole reply, or -1.
function replyEnd(buffer: string): number {
  let pos = 0;
  for (;;) {
    const eol = buffer.indexOf('\r\n', pos);
    if (eol < 0) return -1;
    const line = buffer.slice(pos, eol);
    pos = eol + 2;
    if (!/^\d{3}-/.test(line)) return pos;
  }
}

export function queueIdOf(reply: string): string {
  const m = /queued as ([0-9A-Za-z]+)/.exec(reply);
  if (!m) throw new Error(`no queue ID in ${reply}`);
  return m[1];
}

export function message(subject: string, body = 'test body'): string {
  return `From: a@test.example\r\nTo: b@test.example\r\nSubject: ${subject}\r\n\r\n${body}\r\n`;
}
