// Per-message status logs bounce/ID, defer/ID and trace/ID in Postfix's
// format: one record per recipient, `name=value` lines ended by an empty
// line. qmgr appends (fsync before it acts on the result); showq reads
// defer logs for mailq reasons; bounce reads them to build DSN notices.
// Limits: Postfix's old `<addr>: reason` format is not read.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { queuePath, type QueueConfig } from './mail_queue';

export const STATUS_LOG = {
  BOUNCE: 'bounce',
  DEFER: 'defer',
  TRACE: 'trace',
} as const;

export type StatusLogName = (typeof STATUS_LOG)[keyof typeof STATUS_LOG];

export interface StatusRecord {
  recipient: string;
  originalRecipient: string; // written only when it differs
  offset: number;
  dsnOrigRcpt: string;
  notifyFlags: number;
  status: string; // DSN code, "5.1.1"
  action: string; // failed, delayed, delivered, relayed, expanded
  diagType: string; // "smtp"
  diagText: string; // "550 5.1.1 <u@example.net>: ..."
  mtaType: string; // "dns"
  mtaMname: string;
  reason: string;
}

export type StatusInput = Partial<StatusRecord> &
  Pick<StatusRecord, 'recipient' | 'status' | 'action' | 'reason'>;

// A value must stay on its line: control characters become '?'.
function clean(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, '?');
}

// Postfix's layout (bounce_append_service): an empty line, the old
// "<recipient>: reason" line when backwards_bounce_logfile_compatibility
// is on (Postfix's default), then name=value lines in a fixed order,
// optional ones only when set, then an empty line.
export function formatStatusRecord(r: StatusInput, legacy = true): string {
  const lines = [''];
  if (legacy) lines.push(`<${clean(r.recipient)}>: ${clean(r.reason)}`);
  lines.push(`recipient=${clean(r.recipient)}`);
  const orig = r.originalRecipient ?? '';
  if (orig && orig !== r.recipient)
    lines.push(`original_recipient=${clean(orig)}`);
  lines.push(`offset=${r.offset ?? 0}`);
  if (r.dsnOrigRcpt) lines.push(`dsn_orig_rcpt=${clean(r.dsnOrigRcpt)}`);
  if (r.notifyFlags) lines.push(`notify_flags=${r.notifyFlags}`);
  lines.push(`status=${clean(r.status)}`, `action=${clean(r.action)}`);
  if (r.diagType) lines.push(`diag_type=${clean(r.diagType)}`);
  if (r.diagType) lines.push(`diag_text=${clean(r.diagText ?? '')}`);
  if (r.mtaType) lines.push(`mta_type=${clean(r.mtaType)}`);
  if (r.mtaType) lines.push(`mta_mname=${clean(r.mtaMname ?? '')}`);
  lines.push(`reason=${clean(r.reason)}`);
  return lines.join('\n') + '\n\n';
}

function emptyRecord(): StatusRecord {
  return {
    recipient: '',
    originalRecipient: '',
    offset: 0,
    dsnOrigRcpt: '',
    notifyFlags: 0,
    status: '',
    action: '',
    diagType: '',
    diagText: '',
    mtaType: '',
    mtaMname: '',
    reason: '',
  };
}

const FIELDS: Record<string, (r: StatusRecord, v: string) => void> = {
  recipient: (r, v) => (r.recipient = v),
  original_recipient: (r, v) => (r.originalRecipient = v),
  offset: (r, v) => (r.offset = Number(v) || 0),
  dsn_orig_rcpt: (r, v) => (r.dsnOrigRcpt = v),
  notify_flags: (r, v) => (r.notifyFlags = Number(v) || 0),
  status: (r, v) => (r.status = v),
  action: (r, v) => (r.action = v),
  diag_type: (r, v) => (r.diagType = v),
  diag_text: (r, v) => (r.diagText = v),
  mta_type: (r, v) => (r.mtaType = v),
  mta_mname: (r, v) => (r.mtaMname = v),
  reason: (r, v) => (r.reason = v),
};

// Records from a log's text. Unknown names are skipped, and a record
// without a recipient (a torn last write) is dropped.
export function parseStatusLog(text: string): StatusRecord[] {
  const out: StatusRecord[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const rec = emptyRecord();
    for (const line of block.split('\n')) {
      if (line.startsWith('<')) continue; // the old-style line
      const eq = line.indexOf('=');
      if (eq > 0) FIELDS[line.slice(0, eq)]?.(rec, line.slice(eq + 1));
    }
    if (rec.recipient) {
      if (!rec.originalRecipient) rec.originalRecipient = rec.recipient;
      out.push(rec);
    }
  }
  return out;
}

export function statusLogPath(
  queueDir: string,
  log: StatusLogName,
  queueId: string,
  config: QueueConfig,
): string {
  return queuePath(queueDir, log, queueId, config);
}

async function openAppend(file: string): Promise<fs.promises.FileHandle> {
  try {
    return await fs.promises.open(file, 'a', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    return fs.promises.open(file, 'a', 0o600);
  }
}

// Append one record and fsync. On a failed write the file is cut back to
// its old length, so that a half record never reaches a reader.
export async function appendStatus(
  queueDir: string,
  log: StatusLogName,
  queueId: string,
  record: StatusInput,
  config: QueueConfig,
): Promise<void> {
  const file = statusLogPath(queueDir, log, queueId, config);
  const fh = await openAppend(file);
  const { size } = await fh.stat();
  try {
    const legacy = config.bool('backwards_bounce_logfile_compatibility');
    await fh.write(formatStatusRecord(record, legacy));
    await fh.sync();
  } catch (err) {
    await fh.truncate(size).catch(() => undefined);
    throw new Error(`appendStatus: append file ${log}/${queueId}: ${err}`);
  } finally {
    await fh.close();
  }
}

// The records of one log; none when the log does not exist.
export async function readStatusLog(
  queueDir: string,
  log: StatusLogName,
  queueId: string,
  config: QueueConfig,
): Promise<StatusRecord[]> {
  const file = statusLogPath(queueDir, log, queueId, config);
  try {
    return parseStatusLog(await fs.promises.readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

// Remove one log; false when it was not there.
export async function removeStatusLog(
  queueDir: string,
  log: StatusLogName,
  queueId: string,
  config: QueueConfig,
): Promise<boolean> {
  try {
    await fs.promises.unlink(statusLogPath(queueDir, log, queueId, config));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
