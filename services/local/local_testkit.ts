// Test helpers for local's unit and end-to-end tests: a committed queue
// file written with Postfix's records, the delivery request that names
// it, and a context that collects outcomes. Not used by the agent.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeRecord, REC } from '../../packages/queue/record';
import type { DeliveryRequest } from '../../packages/queue/delivery';
import { scanDeliveredTo } from './local_content';
import {
  defaultSettings,
  type AliasTable,
  type LocalContext,
  type LocalMessage,
  type LocalSettings,
  type Outcome,
} from './local_state';

export interface TestMessage {
  sender?: string;
  recipients?: Array<{ recipient: string; original?: string }>;
  lines?: string[];
}

export interface TestQueueFile {
  file: string;
  dataOffset: number;
  offsets: number[]; // R record of each recipient
}

export const DEFAULT_LINES = [
  'From: alice@example.com',
  'Subject: test',
  '',
  'hello',
  'From the start of a line',
];

export function writeQueueFile(dir: string, m: TestMessage): TestQueueFile {
  const parts: Buffer[] = [];
  let size = 0;
  const add = (type: string, data: string) => {
    const rec = encodeRecord(type, data);
    parts.push(rec);
    size += rec.length;
    return size - rec.length;
  };
  add(REC.TIME, `${Math.floor(Date.now() / 1000)} 0`);
  add(REC.SENDER, m.sender ?? 'alice@example.com');
  const offsets: number[] = [];
  for (const r of m.recipients ?? [{ recipient: 'bob@localhost' }]) {
    add(REC.ORCP, r.original ?? r.recipient);
    offsets.push(add(REC.RCPT, r.recipient));
  }
  add(REC.MESG, '');
  const dataOffset = size;
  for (const line of m.lines ?? DEFAULT_LINES) add(REC.NORM, line);
  add(REC.XTRA, '');
  add(REC.END, '');
  const file = path.join(dir, `Q${process.hrtime.bigint().toString(36)}`);
  fs.writeFileSync(file, Buffer.concat(parts), { mode: 0o700 });
  return { file, dataOffset, offsets };
}

export function testRequest(
  q: TestQueueFile,
  m: TestMessage,
  queueId = 'ABC123',
): DeliveryRequest {
  const now = Date.now() / 1000;
  const rcpts = m.recipients ?? [{ recipient: 'bob@localhost' }];
  return {
    flags: 0,
    queueName: 'active',
    queueId,
    offset: q.dataOffset,
    size: 100,
    nexthop: 'localhost',
    encoding: '',
    sendopts: 0,
    sender: m.sender ?? 'alice@example.com',
    envelopeId: '',
    retFlags: 0,
    arrivalTime: now,
    activeArrival: now,
    agentHandoff: now,
    logClientName: 'localhost',
    logClientAddress: '127.0.0.1',
    logClientPort: '25',
    logProtocolName: 'ESMTP',
    logHeloName: 'client.example',
    rewriteContext: 'remote',
    recipients: rcpts.map((r, i) => ({
      originalRecipient: r.original ?? r.recipient,
      recipient: r.recipient,
      offset: q.offsets[i],
      dsnOrigRcpt: '',
      notifyFlags: 0,
    })),
  };
}

export function testMessage(q: TestQueueFile, sender = 'alice@example.com') {
  const fd = fs.openSync(q.file, 'r+');
  const msg: LocalMessage = {
    queueId: 'ABC123',
    sender,
    arrivalTime: Date.now() / 1000,
    fd,
    contentOffset: q.dataOffset,
    size: 100,
    envelopeId: '',
    client: { name: 'c', address: '127.0.0.1', protocol: 'ESMTP', helo: 'h' },
    deliveredTo: scanDeliveredTo(fd, q.dataOffset),
  };
  return msg;
}

// A table from an object, owned by uid (0: default_privs).
export function memoryAliases(
  entries: Record<string, string>,
  ownerUid = 0,
): AliasTable {
  return {
    name: 'memory:test',
    ownerUid,
    lookup: async (key) => entries[key],
  };
}

export interface Recorded {
  recipient: string;
  origRecipient: string;
  outcome: Outcome;
}

export function testContext(
  msg: LocalMessage,
  settings: Partial<LocalSettings>,
  aliases: AliasTable[] = [],
): LocalContext & { log: Recorded[] } {
  const log: Recorded[] = [];
  const ctx: LocalContext & { log: Recorded[] } = {
    settings: defaultSettings(settings),
    msg,
    aliases,
    myorigin: 'localhost',
    queueDir: '/nonexistent',
    resolve: async (address) => {
      const full = address.includes('@') ? address : `${address}@localhost`;
      const domain = full.slice(full.lastIndexOf('@') + 1).toLowerCase();
      return { address: full, local: domain === 'localhost', fail: false };
    },
    seen: new Set(),
    outcomes: [],
    forwards: [],
    log,
    record(attr, outcome) {
      ctx.outcomes.push(outcome);
      log.push({
        recipient: attr.recipient,
        origRecipient: attr.origRecipient,
        outcome,
      });
    },
  };
  return ctx;
}

export function tempDir(prefix = 'local-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  return dir;
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

// Every file under dir/new of a Maildir, read as text.
export function maildirMessages(dir: string): string[] {
  const newDir = path.join(dir, 'new');
  if (!fs.existsSync(newDir)) return [];
  return fs
    .readdirSync(newDir)
    .sort()
    .map((name) => fs.readFileSync(path.join(newDir, name), 'utf8'));
}
