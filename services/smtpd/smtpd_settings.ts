// The main.cf parameters smtpd reads, read once per process into one typed
// object, so that a bad value fails at startup with Postfix's error text
// and not in the middle of a session. Used by smtpd.ts and by tests that
// run a session in-process. A parameter not yet in the catalog falls
// back to Postfix's default (see FALLBACKS).

import { Config } from '../../packages/config/config';
import { CATALOG } from '../../packages/config/params';

export const BARE_NEWLINE = {
  NO: 'no',
  NORMALIZE: 'normalize',
  NOTE: 'note',
  REJECT: 'reject',
} as const;

export type BareNewline = (typeof BARE_NEWLINE)[keyof typeof BARE_NEWLINE];

// XXX smtputf8_enable belongs in the global catalog (cleanup and the
// SMTP client read it too) and is not there yet; until it is, smtpd uses
// Postfix's default. Other parameters come from the catalog.
const FALLBACKS: Record<string, string> = {
  smtputf8_enable: 'yes',
};

export interface SmtpdSettings {
  config: Config;
  queueDir: string;
  myhostname: string;
  banner: string;
  timeoutMs: number;
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
}

// A parameter's text; the fallback when no area has catalogued it yet.
export function param(config: Config, name: string): string {
  if (CATALOG.has(name)) return config.get(name);
  const raw = config.raw(name);
  return expandFallback(config, raw ?? FALLBACKS[name] ?? '');
}

// "$name" inside such a value; XXX "${name}" and "${name?text}" forms
// are not expanded here (config.ts does that for catalogued names).
function expandFallback(config: Config, text: string): string {
  return text.replace(/\$(\w+)/g, (_, name: string) => param(config, name));
}

function intParam(config: Config, name: string): number {
  if (CATALOG.has(name)) return config.int(name);
  const n = Number(param(config, name));
  if (!Number.isInteger(n))
    throw new Error(`bad numerical configuration: ${name} = ${n}`);
  return n;
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

export function loadSettings(config: Config, queueDir: string): SmtpdSettings {
  return {
    config,
    queueDir,
    myhostname: config.get('myhostname'),
    banner: config.get('smtpd_banner'),
    timeoutMs: config.time('smtpd_timeout') * 1000,
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
  };
}
