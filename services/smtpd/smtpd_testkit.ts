// Test helpers for smtpd: a temporary instance (main.cf, queue directory,
// an in-process smtpd on a plain net.Server on port 0), an SMTP client
// that reads whole replies, and the log lines the session wrote. Used by
// smtpd's unit tests and test/smtpd_*_test.ts. The cleanup side is the
// real cleanup service, attached to public/cleanup in the temp queue.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../../packages/config/config';
import { addLogSink, initLog } from '../../packages/log/log';
import { decodeRecords } from '../../packages/queue/record';
import { makeQueueTree } from '../../packages/queue/mail_queue';
import { handleCleanupClient } from '../cleanup/cleanup_service';
import { handleConnection } from './smtpd_proto';
import { prepareSmtpd } from './smtpd_service';
import { AnvilTable } from '../anvil/anvil_table';
import { handleAnvilClient } from '../anvil/anvil_server';

export const LOG: string[] = [];
let logReady = false;

function captureLog(): void {
  if (logReady) return;
  logReady = true;
  initLog({ processName: 'smtpd', sinks: [] });
  addLogSink((line) => LOG.push(line.replace(/^.*?\]: /, '')));
}

export interface QueuedMessage {
  queueId: string;
  records: Array<{ type: string; data: string }>;
}

export interface Instance {
  dir: string;
  queueDir: string;
  port: number;
  readonly queued: QueuedMessage[]; // read from disk at each use
  anvil: AnvilTable | null; // the in-process anvil, when asked for
  close(): Promise<void>;
}

export interface InstanceOptions {
  anvil?: boolean; // run anvil on private/anvil in the temp queue
  tmpfsSize?: string; // the queue on a tmpfs of this size ("2m"); root
}

const BASE_MAIN_CF: Record<string, string> = {
  myhostname: 'mx.example.com',
  mydestination: '$myhostname, localhost',
  mynetworks: '127.0.0.0/8',
  local_recipient_maps: '',
  smtpd_error_sleep_time: '0',
};

export async function startInstance(
  params: Record<string, string> = {},
  options: InstanceOptions = {},
): Promise<Instance> {
  captureLog();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtpd-test-'));
  const queueDir = path.join(dir, 'queue');
  if (options.tmpfsSize) mountTmpfs(queueDir, options.tmpfsSize);
  makeQueueTree(queueDir);
  const main = { ...BASE_MAIN_CF, queue_directory: queueDir, ...params };
  fs.writeFileSync(
    path.join(dir, 'main.cf'),
    Object.entries(main)
      .map(([k, v]) => `${k} = ${v}\n`)
      .join(''),
  );
  const config = Config.load({ configDir: dir });
  const { settings, check, anvil } = prepareSmtpd(config, queueDir);
  const cleanup = await startCleanup(queueDir, config);
  const anvilSide = options.anvil ? await startAnvil(queueDir, config) : null;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    void handleConnection(socket, settings, check, anvil);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    dir,
    queueDir,
    port,
    get queued() {
      return queuedMessages(queueDir);
    },
    anvil: anvilSide?.table ?? null,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
      anvil.close();
      await anvilSide?.close();
      await cleanup.close();
      if (options.tmpfsSize) execFileSync('umount', [queueDir]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// The real cleanup (services/cleanup) on public/cleanup, and a listener
// on public/qmgr that takes its triggers. Messages are read back from the
// committed queue files.
async function startCleanup(
  queueDir: string,
  config: Config,
): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  const cleanup = await listen(
    path.join(queueDir, 'public', 'cleanup'),
    (s) => {
      track(s);
      void handleCleanupClient(s, { config, queueDir });
    },
  );
  const qmgr = await listen(path.join(queueDir, 'public', 'qmgr'), (s) => {
    track(s);
    s.resume();
  });
  return {
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([closeServer(cleanup), closeServer(qmgr)]);
    },
  };
}

// A small file system of its own, so that a test can fill it.
function mountTmpfs(where: string, size: string): void {
  fs.mkdirSync(where);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', where]);
}

// anvil's protocol on private/anvil, with its table for the test to read.
async function startAnvil(
  queueDir: string,
  config: Config,
): Promise<{ table: AnvilTable; close(): Promise<void> }> {
  const table = new AnvilTable(config.time('anvil_rate_time_unit'));
  const sockets = new Set<net.Socket>();
  const server = await listen(path.join(queueDir, 'private', 'anvil'), (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    void handleAnvilClient(s, table);
  });
  return {
    table,
    close: async () => {
      for (const s of sockets) s.destroy();
      await closeServer(server);
    },
  };
}

function listen(
  where: string,
  onSocket: (s: net.Socket) => void,
): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer(onSocket);
    server.once('error', reject);
    server.listen(where, () => resolve(server));
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

// The committed messages, oldest first, with their records.
export function queuedMessages(queueDir: string): QueuedMessage[] {
  return queueFiles(queueDir).map((file) => ({
    queueId: path.basename(file),
    records: decodeRecords(fs.readFileSync(file)).map((r) => ({
      type: r.type,
      data: r.data.toString('latin1'),
    })),
  }));
}

// The files committed to incoming/ (mode 0700: complete), on disk.
export function queueFiles(queueDir: string): string[] {
  const top = path.join(queueDir, 'incoming');
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if ((fs.statSync(full).mode & 0o777) === 0o700) out.push(full);
    }
  };
  walk(top);
  return out.sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs);
}

// A line-oriented SMTP client for tests: whole replies, multi-line aware.
export class SmtpTestClient {
  #socket: net.Socket;
  #buffer = '';
  #closed = false;
  #waiters: Array<() => void> = [];

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.#buffer += d;
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<SmtpTestClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(new SmtpTestClient(socket)));
      socket.once('error', reject);
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(raw: string | Buffer): void {
    this.#socket.write(raw);
  }

  send(line: string): void {
    this.#socket.write(line + '\r\n');
  }

  // The next whole reply, its lines without line ends; null at close.
  async reply(timeoutMs = 5000): Promise<string[] | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.#takeReply();
      if (lines) return lines;
      if (this.#closed) return null;
      if (Date.now() > deadline)
        throw new Error(`no reply within ${timeoutMs} ms: ${this.#buffer}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  #takeReply(): string[] | null {
    const lines: string[] = [];
    let pos = 0;
    for (;;) {
      const end = this.#buffer.indexOf('\r\n', pos);
      if (end < 0) return null;
      const line = this.#buffer.slice(pos, end);
      lines.push(line);
      pos = end + 2;
      if (line.charAt(3) !== '-') break;
    }
    this.#buffer = this.#buffer.slice(pos);
    return lines;
  }

  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    return this.#closed;
  }

  close(): void {
    this.#socket.destroy();
  }
}

// Wait for a log line matching re; the session logs asynchronously.
// from: ignore lines logged before this index (another test's).
export async function waitForLog(
  re: RegExp,
  from = 0,
  timeoutMs = 5000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = LOG.slice(from).find((line) => re.test(line));
    if (hit) return hit;
    if (Date.now() > deadline)
      throw new Error(`no log line matching ${re}:\n${LOG.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
