// Test support for cleanup and its clients (smtpd, pickup, local): a real
// cleanup on public/cleanup in a temporary queue directory, a qmgr
// stand-in that records triggers, and helpers to submit and read files.
// Tests only; nothing in a daemon imports it.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../../packages/config/config';
import {
  CleanupClient,
  type CleanupResult,
} from '../../packages/ipc/cleanup_client';
import { makeQueueTree } from '../../packages/queue/mail_queue';
import { decodeRecords, type Rec } from '../../packages/queue/record';
import { initLog } from '../../packages/log/log';
import { handleCleanupClient } from './cleanup_service';

export interface CleanupHarness {
  dir: string;
  queueDir: string;
  config: Config;
  triggers: string[];
  logs: string[];
  connections: () => number; // accepted so far
  dropClients(): void; // as a cleanup that went away
  close(): Promise<void>;
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

const logs: string[] = [];
let logInitialised = false;

// Start cleanup with main.cf text added to a minimal configuration.
// A given dir is used as it is and left in place (crash tests run
// cleanup in a child process on the parent's folder).
export async function startCleanup(
  mainCf = '',
  given?: string,
): Promise<CleanupHarness> {
  const dir = given ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cleanup-'));
  const queueDir = path.join(dir, 'spool');
  makeQueueTree(queueDir);
  for (const name of ['cleanup', 'qmgr'])
    fs.rmSync(path.join(queueDir, 'public', name), { force: true });
  fs.writeFileSync(
    path.join(dir, 'main.cf'),
    `queue_directory = ${queueDir}\nmyhostname = mx.example.com\n${mainCf}\n`,
  );
  const config = Config.load({ configDir: dir, processName: 'cleanup' });
  // Log lines as cleanup would write them, kept for the test to read.
  if (!logInitialised)
    initLog({ processName: 'cleanup', sinks: [(line) => logs.push(line)] });
  logInitialised = true;
  const triggers: string[] = [];
  const qmgr = await listen(path.join(queueDir, 'public', 'qmgr'), (s) => {
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => triggers.push(Buffer.concat(chunks).toString()));
  });
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const cleanup = await listen(
    path.join(queueDir, 'public', 'cleanup'),
    (s) => {
      accepted++;
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      void handleCleanupClient(s, { config, queueDir });
    },
  );
  const dropClients = () => {
    for (const s of sockets) s.destroy();
  };
  const close = async () => {
    dropClients();
    await Promise.all([closeServer(cleanup), closeServer(qmgr)]);
    if (!given) fs.rmSync(dir, { recursive: true, force: true });
  };
  const connections = () => accepted;
  return {
    dir,
    queueDir,
    config,
    triggers,
    logs,
    connections,
    dropClients,
    close,
  };
}

export type RecordList = Array<[string, string | Buffer]>;

export async function submit(
  queueDir: string,
  flags: number,
  records: RecordList,
  reuse = false,
): Promise<CleanupResult & { queueId: string }> {
  const client = await CleanupClient.open(queueDir, flags, reuse);
  await client.records(records);
  const result = await client.finish();
  return { ...result, queueId: client.queueId };
}

// A plain message: envelope, content lines, X and E.
export function message(options: {
  sender?: string;
  rcpts?: string[];
  attrs?: string[];
  lines: string[];
}): RecordList {
  const recs: RecordList = [['T', '1796292509 187777']];
  for (const a of options.attrs ?? []) recs.push(['A', a]);
  recs.push(['S', options.sender ?? 'alice@example.org']);
  for (const r of options.rcpts ?? ['bob@example.com']) recs.push(['R', r]);
  recs.push(['M', '']);
  for (const line of options.lines) recs.push(['N', line]);
  recs.push(['X', ''], ['E', '']);
  return recs;
}

export const SMTP_ATTRS = [
  'rewrite_context=remote',
  'log_client_name=client.example.net',
  'log_client_address=192.0.2.10',
  'log_client_port=40000',
  'log_helo_name=helo.example.net',
  'log_protocol_name=ESMTP',
];

export function readQueueFile(file: string): Array<Rec & { offset: number }> {
  return decodeRecords(fs.readFileSync(file));
}

// The content lines of a file, L pieces joined to their lines.
export function contentLines(file: string): string[] {
  const out: string[] = [];
  let inContent = false;
  let partial = '';
  for (const rec of readQueueFile(file)) {
    if (rec.type === 'M') inContent = true;
    else if (rec.type === 'X') inContent = false;
    else if (inContent && rec.type === 'L') partial += rec.data.toString();
    else if (inContent && rec.type === 'N') {
      out.push(partial + rec.data.toString());
      partial = '';
    }
  }
  return out;
}
