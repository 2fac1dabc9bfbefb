// One cleanup request: the queue file being written, what the envelope
// said so far, the limits from main.cf, and the error bits to answer.
// Made per connection by cleanup_service.ts and handed to the envelope,
// message and extracted handlers.

import * as fs from 'node:fs';
import type { DaemonContext } from '../../packages/daemon/daemon';
import { createQueueFile, QUEUE } from '../../packages/queue/mail_queue';
import {
  CLEANUP_STAT,
  cleanupStatusReply,
} from '../../packages/ipc/cleanup_client';
import { QueueFileWriter } from './cleanup_out';

// What cleanup needs of the daemon skeleton's context; a test passes a
// Config and a queue folder of its own.
export type CleanupContext = Pick<DaemonContext, 'config' | 'queueDir'> & {
  readonly ending?: boolean; // stopping or retired: keep no connection
};
export type CleanupConfig = DaemonContext['config'];

export interface CleanupSettings {
  myhostname: string;
  mailName: string;
  hopcountLimit: number;
  headerSizeLimit: number;
  lineLengthLimit: number;
  messageSizeLimit: number;
  dropHeaders: ReadonlySet<string>;
  alwaysAddMissing: boolean;
  fsyncDirectory: boolean; // queue_directory_fsync
  longQueueIds: boolean;
  duplicateFilterLimit: number;
  delayWarningTime: number;
}

// A Config does not change once loaded (a reload starts new processes),
// so each is read once rather than once per message.
const settingsCache = new WeakMap<CleanupConfig, CleanupSettings>();

export function readSettings(config: CleanupConfig): CleanupSettings {
  let settings = settingsCache.get(config);
  if (!settings) {
    settings = loadSettings(config);
    settingsCache.set(config, settings);
  }
  return settings;
}

function loadSettings(config: CleanupConfig): CleanupSettings {
  return {
    myhostname: config.get('myhostname'),
    mailName: config.get('mail_name'),
    hopcountLimit: config.int('hopcount_limit'),
    headerSizeLimit: config.size('header_size_limit'),
    lineLengthLimit: config.int('line_length_limit'),
    messageSizeLimit: config.size('message_size_limit'),
    dropHeaders: new Set(
      config.list('message_drop_headers').map((h) => h.toLowerCase()),
    ),
    alwaysAddMissing: config.bool('always_add_missing_headers'),
    fsyncDirectory: config.bool('queue_directory_fsync'),
    longQueueIds: config.bool('enable_long_queue_ids'),
    duplicateFilterLimit: config.int('duplicate_filter_limit'),
    delayWarningTime: config.time('delay_warning_time'),
  };
}

export const PHASE = {
  ENVELOPE: 'envelope',
  CONTENT: 'content',
  EXTRACTED: 'extracted',
  DONE: 'done',
} as const;

export type Phase = (typeof PHASE)[keyof typeof PHASE];

// DSN details given before a recipient, written just before its O and R.
export interface PendingRecipient {
  orcpt?: string;
  dsnOrcpt?: string;
  notify?: string;
}

export class CleanupState {
  readonly queueId: string;
  readonly queueDir: string;
  readonly config: CleanupConfig;
  readonly settings: CleanupSettings;
  readonly createTime: { sec: number; usec: number };
  readonly writer: QueueFileWriter;
  path: string;
  queueName: string = QUEUE.INCOMING;
  flags = 0;
  phase: Phase = PHASE.ENVELOPE;
  errs = 0;
  reason = '';
  // For the log only: the client hears Postfix's fixed text.
  protocolWhy = '';

  started = false;
  committed = false;
  closed = false;
  sizeOffset = 0;
  dataOffset = 0;
  xtraOffset = 0;
  arrivalSec = 0;
  sender: string | undefined;
  fullname: string | undefined;
  attrs = new Map<string, string>();
  pending: PendingRecipient = {};
  rcptCount = 0;
  firstRcpt: string | undefined;
  // Offsets of the R records, for a REDIRECT that replaces them all.
  recipientOffsets: number[] = [];
  redirect: string | undefined;
  // Recipients added by the BCC action of header_checks or body_checks.
  bccRecipients: string[] = [];
  // FILTER from header or body checks: written in the extracted segment,
  // where qmgr reads it after the envelope's (the last one wins).
  filter = '';
  // For CLEANUP_FLAG_BOUNCE: whom to tell when the message is refused.
  bounceRecipients: Array<{ recipient: string; original: string }> = [];
  #seenRcpts = new Set<string>();

  private constructor(
    ctx: CleanupContext,
    file: { fd: number; id: string; path: string },
    time: { sec: number; usec: number },
  ) {
    this.queueDir = ctx.queueDir;
    this.config = ctx.config;
    this.settings = readSettings(ctx.config);
    this.queueId = file.id;
    this.path = file.path;
    this.createTime = time;
    this.writer = new QueueFileWriter(file.fd);
  }

  static async create(ctx: CleanupContext): Promise<CleanupState> {
    const file = await createQueueFile(
      ctx.queueDir,
      QUEUE.INCOMING,
      ctx.config,
    );
    try {
      return new CleanupState(ctx, file, file.time);
    } catch (err) {
      fs.closeSync(file.fd);
      fs.rmSync(file.path, { force: true });
      throw err;
    }
  }

  // Record an error; the first specific reason is the one reported.
  fail(bit: number, reason?: string): void {
    this.errs |= bit;
    if (this.reason) return;
    const reply = cleanupStatusReply(bit);
    this.reason = reason ?? (reply ? `${reply.dsn} ${reply.text}` : '');
  }

  get failed(): boolean {
    return this.errs !== 0;
  }

  get isBad(): boolean {
    return (this.errs & CLEANUP_STAT.BAD) !== 0;
  }

  // false when this recipient was already given with the same details.
  // Like Postfix, remember at most duplicate_filter_limit recipients
  // (0: no limit); past that, later duplicates are kept.
  isNewRecipient(orcpt: string, rcpt: string, dsn: PendingRecipient): boolean {
    const key = [orcpt, rcpt, dsn.dsnOrcpt ?? '', dsn.notify ?? ''].join('\0');
    if (this.#seenRcpts.has(key)) return false;
    const limit = this.settings.duplicateFilterLimit;
    if (limit === 0 || this.#seenRcpts.size < limit) this.#seenRcpts.add(key);
    return true;
  }

  // Queue a record unless an error already dooms the file, and enforce
  // message_size_limit on what the file has grown to.
  put(type: string, data: Buffer | string = ''): void {
    if (this.failed) return;
    this.writer.put(type, data);
    const limit = this.settings.messageSizeLimit;
    if (limit > 0 && this.writer.offset > limit) this.fail(CLEANUP_STAT.SIZE);
  }
}
