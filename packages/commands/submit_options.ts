// sendmail's command line, parsed as Postfix's sendmail does with POSIX
// getopt: the mode (-bm -bs -bp -bi -bv -q...), the envelope options
// (-f -r -F -N -R -V -t -i) and the ignored Sendmail options. Used by
// sendmail.ts. Limits: -XV (VERP), -B and -O are accepted and ignored.

import { getopt, GetoptError } from '../util/getopt';
import { CommandExit, EX } from './submit_exit';
import { DSN_NOTIFY, DSN_RET } from '../queue/dsn_mask';

// Postfix's sendmail option string (with "+" behaviour from getopt).
const SPEC = '46A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx';

export const MODE = {
  ENQUEUE: 'enqueue',
  SMTP: 'smtp',
  MAILQ: 'mailq',
  NEWALIASES: 'newaliases',
  FLUSH: 'flush',
  DAEMON: 'daemon',
} as const;
export type Mode = (typeof MODE)[keyof typeof MODE];

// Postfix's dsn.h bits.
export { DSN_NOTIFY, DSN_RET };
// deliver_request.h trace flags: -bv (verify), -v (record).
export const TRACE_FLAG = { VERIFY: 1 << 9, RECORD: 1 << 10 };

export interface SendmailOptions {
  mode: Mode;
  configDir: string | undefined;
  sender: string | undefined;
  fullname: string | undefined;
  notify: number;
  ret: number;
  envid: string;
  extract: boolean;
  ignoreDot: boolean;
  traceFlags: number;
  verbose: number;
  flushArgs: string[]; // postqueue arguments for -q
  recipients: string[];
}

type Handler = (o: SendmailOptions, value: string) => void;

function usage(text: string): never {
  throw new CommandExit(EX.USAGE, text);
}

function onMode(o: SendmailOptions, value: string): void {
  const modes: Record<string, Mode> = {
    m: MODE.ENQUEUE,
    s: MODE.SMTP,
    p: MODE.MAILQ,
    i: MODE.NEWALIASES,
    d: MODE.DAEMON,
    l: MODE.DAEMON,
  };
  if (value === 'v') {
    o.traceFlags |= TRACE_FLAG.VERIFY;
    return;
  }
  if (value === 'h' || value === 'H') return;
  o.mode = modes[value] ?? usage(`unsupported: -b${value}`);
}

function onNotify(o: SendmailOptions, value: string): void {
  const words = value.split(/[\s,]+/).filter(Boolean);
  const bits: Record<string, number> = {
    never: DSN_NOTIFY.NEVER,
    success: DSN_NOTIFY.SUCCESS,
    delay: DSN_NOTIFY.DELAY,
    failure: DSN_NOTIFY.FAILURE,
  };
  let notify = 0;
  for (const w of words)
    notify |= bits[w.toLowerCase()] ?? usage(`bad -N option value: ${value}`);
  if (notify & DSN_NOTIFY.NEVER && notify !== DSN_NOTIFY.NEVER)
    usage(`bad -N option value: ${value}`);
  o.notify = notify;
}

function onRet(o: SendmailOptions, value: string): void {
  const rets: Record<string, number> = {
    full: DSN_RET.FULL,
    hdrs: DSN_RET.HDRS,
  };
  o.ret = rets[value.toLowerCase()] ?? usage(`bad -R option value: ${value}`);
}

// RFC 3461 ENVID: printable US-ASCII without "+" or "=" (xtext-safe).
function onEnvid(o: SendmailOptions, value: string): void {
  if (!/^[\x21-\x2a\x2c-\x3c\x3e-\x7e]{1,100}$/.test(value))
    usage(`bad -V option value: ${value}`);
  o.envid = value;
}

// -q: flush; -qRsite: flush a site; -qIid: send one file; -q1h ignored.
function onQueue(o: SendmailOptions, value: string): void {
  o.mode = MODE.FLUSH;
  if (value.startsWith('R')) o.flushArgs = ['-s', value.slice(1)];
  else if (value.startsWith('I')) o.flushArgs = ['-i', value.slice(1)];
  else if (value.startsWith('S')) usage('-qSsite is not implemented');
  else o.flushArgs = ['-f'];
}

function onO(o: SendmailOptions, value: string): void {
  if (value === 'i') o.ignoreDot = true;
}

// XXX -X (VERP), -B (body type) and -O (smtputf8, requiretls) are taken
// and ignored, as Sendmail's options below are: nothing downstream reads
// VERP delimiters or a body type from a local submission yet.
const IGNORED = '46AB:GLOUXcehmnpx';

const HANDLERS: Record<string, Handler> = {
  b: onMode,
  C: (o, v) => (o.configDir = v),
  F: (o, v) => (o.fullname = v),
  I: (o) => (o.mode = MODE.NEWALIASES),
  N: onNotify,
  R: onRet,
  V: onEnvid,
  f: (o, v) => (o.sender = v),
  r: (o, v) => (o.sender = v),
  i: (o) => (o.ignoreDot = true),
  o: onO,
  q: onQueue,
  t: (o) => (o.extract = true),
  v: (o) => {
    o.verbose++;
    o.traceFlags |= TRACE_FLAG.RECORD;
  },
};

function defaults(): SendmailOptions {
  return {
    mode: MODE.ENQUEUE,
    configDir: undefined,
    sender: undefined,
    fullname: undefined,
    notify: 0,
    ret: 0,
    envid: '',
    extract: false,
    ignoreDot: false,
    traceFlags: 0,
    verbose: 0,
    flushArgs: [],
    recipients: [],
  };
}

// Sendmail's "-q" alone means flush: give getopt an empty argument.
function fixBareQ(argv: string[]): string[] {
  const end = argv.indexOf('--');
  return argv.map((w, i) => (w === '-q' && (end < 0 || i < end) ? '-q0' : w));
}

export function parseSendmailArgs(argv: string[]): SendmailOptions {
  const o = defaults();
  let parsed;
  try {
    parsed = getopt(fixBareQ(argv), SPEC);
  } catch (err) {
    if (err instanceof GetoptError) usage(err.message);
    throw err;
  }
  for (const { name, value } of parsed.options) {
    const handler = HANDLERS[name];
    if (handler) handler(o, value);
    else if (!IGNORED.includes(name)) usage(`invalid option -- '${name}'`);
  }
  o.recipients = parsed.operands;
  return o;
}
