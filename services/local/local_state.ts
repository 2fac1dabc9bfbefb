// Shared shapes of the local delivery agent: its settings (from main.cf),
// the message being delivered, one delivery attempt's attributes, and the
// outcome of one destination. Every local_*.ts module uses them.

export interface LocalSettings {
  aliasMaps: string[];
  homeMailbox: string;
  mailSpoolDirectory: string;
  mailboxSizeLimit: number;
  mailboxDeliveryLock: string[];
  forwardPath: string[];
  allowMailToCommands: string[];
  allowMailToFiles: string[];
  defaultPrivs: string;
  prependDeliveredHeader: string[];
  ownerRequestSpecial: boolean;
  expandOwnerAlias: boolean;
  recipientDelimiter: string;
  propagateUnmatchedExtensions: string[];
  luserRelay: string;
  mailboxCommand: string;
  commandTimeLimit: number; // seconds
  deliverLockAttempts: number;
  deliverLockDelay: number; // seconds
  staleLockTime: number; // seconds
  localCommandShell: string;
  duplicateFilterLimit: number;
  enableOriginalRecipient: boolean;
  withoutPasswd: boolean; // local_delivery_without_passwd
  mailOwner: string; // whose rights such deliveries use when we are root
  biff: boolean;
  myhostname: string;
}

// What local needs of the configuration; packages/config's Config fits.
export interface ConfigLike {
  get(name: string): string;
  raw(name: string): string | undefined;
  bool(name: string): boolean;
  int(name: string): number;
  size(name: string): number;
  time(name: string): number;
  list(name: string): string[];
}

export function loadSettings(config: ConfigLike): LocalSettings {
  const lower = (name: string) => config.list(name).map((w) => w.toLowerCase());
  return {
    aliasMaps: config.list('alias_maps'),
    homeMailbox: config.get('home_mailbox'),
    mailSpoolDirectory: config.get('mail_spool_directory'),
    mailboxSizeLimit: config.size('mailbox_size_limit'),
    mailboxDeliveryLock: lower('mailbox_delivery_lock'),
    // forward_path is expanded per recipient, so it is read unexpanded.
    forwardPath: splitList(config.raw('forward_path') ?? DEFAULT_FORWARD),
    allowMailToCommands: lower('allow_mail_to_commands'),
    allowMailToFiles: lower('allow_mail_to_files'),
    defaultPrivs: config.get('default_privs'),
    prependDeliveredHeader: lower('prepend_delivered_header'),
    ownerRequestSpecial: config.bool('owner_request_special'),
    expandOwnerAlias: config.bool('expand_owner_alias'),
    recipientDelimiter: config.get('recipient_delimiter'),
    propagateUnmatchedExtensions: lower('propagate_unmatched_extensions'),
    luserRelay: config.raw('luser_relay') ?? '',
    mailboxCommand: config.raw('mailbox_command') ?? '',
    commandTimeLimit: config.time('command_time_limit'),
    deliverLockAttempts: config.int('deliver_lock_attempts'),
    deliverLockDelay: config.time('deliver_lock_delay'),
    staleLockTime: config.time('stale_lock_time'),
    localCommandShell: config.get('local_command_shell'),
    duplicateFilterLimit: config.int('duplicate_filter_limit'),
    enableOriginalRecipient: config.bool('enable_original_recipient'),
    withoutPasswd: config.bool('local_delivery_without_passwd'),
    mailOwner: config.get('mail_owner'),
    // XXX biff is accepted and read but no comsat notice is sent: no
    // system here runs comsat, and Debian's main.cf sets biff = no.
    biff: config.bool('biff'),
    myhostname: config.get('myhostname'),
  };
}

const DEFAULT_FORWARD =
  '$home/.forward${recipient_delimiter}${extension}, $home/.forward';

// Split on commas and white space, keeping ${name?value} forms whole.
export function splitList(text: string): string[] {
  const out: string[] = [];
  let word = '';
  let depth = 0;
  for (const ch of text) {
    if (ch === '{') depth++;
    if (ch === '}') depth = Math.max(0, depth - 1);
    if (depth === 0 && /[\s,]/.test(ch)) {
      if (word) out.push(word);
      word = '';
    } else word += ch;
  }
  if (word) out.push(word);
  return out;
}

// Postfix's defaults, for tests and for callers with no main.cf.
export function defaultSettings(
  overrides: Partial<LocalSettings> = {},
): LocalSettings {
  return {
    aliasMaps: [],
    homeMailbox: '',
    mailSpoolDirectory: '/var/mail',
    mailboxSizeLimit: 51200000,
    mailboxDeliveryLock: ['fcntl', 'dotlock'],
    forwardPath: splitList(DEFAULT_FORWARD),
    allowMailToCommands: ['alias', 'forward'],
    allowMailToFiles: ['alias', 'forward'],
    defaultPrivs: 'nobody',
    prependDeliveredHeader: ['command', 'file', 'forward'],
    ownerRequestSpecial: true,
    expandOwnerAlias: false,
    recipientDelimiter: '',
    propagateUnmatchedExtensions: ['canonical', 'virtual'],
    luserRelay: '',
    mailboxCommand: '',
    commandTimeLimit: 1000,
    deliverLockAttempts: 20,
    deliverLockDelay: 1,
    staleLockTime: 500,
    localCommandShell: '',
    duplicateFilterLimit: 1000,
    enableOriginalRecipient: true,
    withoutPasswd: false,
    mailOwner: 'postfix',
    biff: true,
    myhostname: 'localhost',
    ...overrides,
  };
}

// Rights a delivery runs with. home and shell are empty for rights that
// are not a recipient's (default_privs, a file owner).
export interface Rights {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

// The message: envelope from the delivery request, content from the
// queue file (fd opened before any switch of rights).
export interface LocalMessage {
  queueId: string;
  sender: string;
  arrivalTime: number; // seconds since the epoch
  fd: number;
  contentOffset: number; // offset of the M record's data
  size: number;
  envelopeId: string;
  client: { name: string; address: string; protocol: string; helo: string };
  deliveredTo: Set<string>; // lower-cased Delivered-To: values
  head?: Buffer; // the file's bytes from contentOffset on, read once
}

// Where an address came from: it decides which of allow_mail_to_* apply.
export type Origin = 'recipient' | 'alias' | 'forward' | 'include';

// One delivery attempt; copied, never changed, on each expansion step.
export interface DeliveryAttr {
  recipient: string; // address being delivered now, for to=<>
  origRecipient: string; // the queue file's original, for orig_to=<>
  delivered: string; // Delivered-To: value (the queue file's recipient)
  sender: string; // envelope sender for forwarded copies
  owner: string; // owner- alias or .forward user; empty for none
  level: number; // nesting depth
  origin: Origin;
  expFrom: string; // alias being expanded, to spot "name: name, ..."
  rights: Rights | null; // for |command and /file; null: default_privs
  unmatched: string; // extension to append to expansion results
  offset?: number; // the queue file recipient's record offset
}

// The parts of a local address that lookups and expansions use.
export interface LocalAddress {
  address: string;
  local: string; // lower-cased localpart
  user: string; // local without the extension
  extension: string;
  domain: string;
}

// An alias table with what decides its delivery rights.
export interface AliasTable {
  name: string; // "texthash:/etc/aliases"
  ownerUid: number; // owner of its file; 0 means default_privs
  lookup(key: string): Promise<string | undefined>;
}

// An address from an expansion, rewritten (@myorigin appended) and
// classified; fail: a table could not answer, so delivery defers.
export interface ResolvedAddress {
  address: string;
  local: boolean;
  fail: boolean;
}

// A copy to be resubmitted through cleanup, one per forwarded address.
export interface ForwardItem {
  attr: DeliveryAttr;
  address: string;
}

// Everything one queue recipient's delivery needs; outcomes collect the
// result of each destination its expansion reached.
export interface LocalContext {
  settings: LocalSettings;
  msg: LocalMessage;
  aliases: AliasTable[];
  myorigin: string;
  resolve(address: string): Promise<ResolvedAddress>;
  queueDir: string; // for resubmission through public/cleanup
  seen: Set<string>; // duplicate filter, duplicate_filter_limit entries
  outcomes: Outcome[];
  forwards: ForwardItem[];
  record(attr: DeliveryAttr, outcome: Outcome): void;
}

// Postfix's been_here: true when key was seen; remembers at most limit.
export function beenHere(ctx: LocalContext, key: string): boolean {
  if (ctx.seen.has(key)) return true;
  if (ctx.seen.size < ctx.settings.duplicateFilterLimit) ctx.seen.add(key);
  return false;
}

export type OutcomeStatus = 'sent' | 'deferred' | 'bounced';

export interface Outcome {
  status: OutcomeStatus;
  dsn: string;
  reason: string;
}

export function sent(reason: string, dsn = '2.0.0'): Outcome {
  return { status: 'sent', dsn, reason };
}

export function deferred(dsn: string, reason: string): Outcome {
  return { status: 'deferred', dsn, reason };
}

export function bounced(dsn: string, reason: string): Outcome {
  return { status: 'bounced', dsn, reason };
}

// A failure with its DSN code, thrown inside delivery routines and turned
// into one Outcome at their edge.
export class DeliveryFailure extends Error {
  readonly outcome: Outcome;
  constructor(outcome: Outcome) {
    super(outcome.reason);
    this.outcome = outcome;
  }
}

export function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && e.syscall) {
    const where = e.path ? ` ${e.path}` : '';
    return `${e.syscall}${where}: ${ERRNO_TEXT[e.code] ?? e.code}`;
  }
  return e instanceof Error ? e.message : String(err);
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENOSPC: 'No space left on device',
  EDQUOT: 'Disk quota exceeded',
  EEXIST: 'File exists',
  ELOOP: 'Too many levels of symbolic links',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EFBIG: 'File too large',
  EAGAIN: 'Resource temporarily unavailable',
  EIO: 'Input/output error',
};
