// The main.cf parameters smtpd reads, read once per process into one typed
// object, so that a bad value fails at startup with Postfix's error text
// and not in the middle of a session. Used by smtpd.ts and by tests that
// run a session in-process.

import { Config } from '../../packages/config/config';
import { loadServerTls, ServerTls } from './smtpd_tls';
import { loadSasl, SaslSettings } from './smtpd_sasl';

export const BARE_NEWLINE = {
  NO: 'no',
  NORMALIZE: 'normalize',
  NOTE: 'note',
  REJECT: 'reject',
} as const;

export type BareNewline = (typeof BARE_NEWLINE)[keyof typeof BARE_NEWLINE];

export interface SmtpdSettings {
  config: Config;
  queueDir: string;
  myhostname: string;
  banner: string;
  timeoutMs: number;
  perRecordDeadline: boolean;
  queueMinfree: number;
  messageSizeLimit: number;
  lineLengthLimit: number;
  recipientLimit: number;
  softErrorLimit: number;
  hardErrorLimit: number;
  errorSleepMs: number;
  junkCommandLimit: number;
  disableVrfy: boolean;
  heloRequired: boolean;
  smtputf8: boolean;
  peernameLookup: boolean;
  peernameTimeoutMs: number;
  portLogging: boolean;
  bareNewline: BareNewline;
  bareNewlineExclusions: string[];
  bareNewlineRejectCode: number;
  forbidUnauthPipelining: boolean;
  discardEhloKeywords: string[];
  tls: ServerTls;
  sasl: SaslSettings;
}

// A parameter's expanded text, and its number.
export function param(config: Config, name: string): string {
  return config.get(name);
}

function intParam(config: Config, name: string): number {
  return config.int(name);
}

export function parseBareNewline(text: string): BareNewline {
  const value = text.trim().toLowerCase();
  if (value === 'yes') return BARE_NEWLINE.NORMALIZE;
  const known = Object.values(BARE_NEWLINE) as string[];
  if (known.includes(value)) return value as BareNewline;
  throw new Error(
    `invalid smtpd_forbid_bare_newline value: "${text}" (specify one of normalize, yes, note, reject, or no)`,
  );
}

export function loadSettings(
  config: Config,
  queueDir: string,
  serviceName = 'smtp',
): SmtpdSettings {
  return {
    config,
    queueDir,
    myhostname: config.get('myhostname'),
    banner: config.get('smtpd_banner'),
    timeoutMs: config.time('smtpd_timeout') * 1000,
    perRecordDeadline: config.bool('smtpd_per_record_deadline'),
    queueMinfree: config.int('queue_minfree'),
    messageSizeLimit: intParam(config, 'message_size_limit'),
    lineLengthLimit: intParam(config, 'line_length_limit'),
    recipientLimit: config.int('smtpd_recipient_limit'),
    softErrorLimit: config.int('smtpd_soft_error_limit'),
    hardErrorLimit: config.int('smtpd_hard_error_limit'),
    errorSleepMs: config.time('smtpd_error_sleep_time') * 1000,
    junkCommandLimit: config.int('smtpd_junk_command_limit'),
    disableVrfy: config.bool('disable_vrfy_command'),
    heloRequired: config.bool('smtpd_helo_required'),
    smtputf8: /^y/i.test(param(config, 'smtputf8_enable')),
    peernameLookup: config.bool('smtpd_peername_lookup'),
    peernameTimeoutMs: config.time('smtpd_peername_lookup_timeout') * 1000,
    portLogging: config.bool('smtpd_client_port_logging'),
    bareNewline: parseBareNewline(config.get('smtpd_forbid_bare_newline')),
    bareNewlineExclusions: config.list('smtpd_forbid_bare_newline_exclusions'),
    bareNewlineRejectCode: config.int('smtpd_forbid_bare_newline_reject_code'),
    forbidUnauthPipelining: config.bool('smtpd_forbid_unauth_pipelining'),
    discardEhloKeywords: config
      .list('smtpd_discard_ehlo_keywords')
      .map((k) => k.toUpperCase()),
    tls: loadServerTls(config, serviceName),
    sasl: loadSasl(config, queueDir),
  };
}
