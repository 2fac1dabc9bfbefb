// The command line of one pipe(8) delivery: argv= with its macros
// (${sender}, ${recipient}, ...) expanded, as Postfix's pipe(8) does; an
// argument with a recipient macro is repeated once per recipient. The
// h, q and u flags change the case and quoting of what is put in.

import type { DeliveryRequest } from '../../packages/queue/delivery';

export class PipeMacroError extends Error {}

// Macros whose value differs per recipient.
const PER_RECIPIENT = [
  'recipient',
  'original_recipient',
  'user',
  'extension',
  'domain',
  'mailbox',
] as const;

export interface ArgvContext {
  req: DeliveryRequest;
  flags: string;
  nullSender: string;
  recipientDelimiter: string;
}

type Values = Record<string, string>;

const MACRO = /\$(?:\{([a-z_]+)(?:([?:])([^}]*))?\}|\(([a-z_]+)\)|([a-z_]+))/g;

export function expandArgv(argv: string[], ctx: ArgvContext): string[] {
  const common = requestValues(ctx);
  const out: string[] = [];
  for (const arg of argv) {
    if (!usesRecipient(arg)) out.push(expand(arg, common));
    else
      for (const rcpt of ctx.req.recipients)
        out.push(expand(arg, { ...common, ...recipientValues(ctx, rcpt) }));
  }
  return out;
}

function usesRecipient(arg: string): boolean {
  for (const m of arg.matchAll(MACRO))
    if ((PER_RECIPIENT as readonly string[]).includes(m[1] ?? m[4] ?? m[5]))
      return true;
  return false;
}

// ${name}, $(name) and $name, and Postfix's ${name?text} (text when the
// value is not empty) and ${name:text} (text when it is).
function expand(arg: string, values: Values): string {
  return arg.replace(MACRO, (_all, a, op, text, b, c) => {
    const name: string = a ?? b ?? c;
    const value = values[name];
    if (value === undefined)
      throw new PipeMacroError(`unknown command-line macro: ${name}`);
    if (op === '?') return value ? text : '';
    if (op === ':') return value ? value : text;
    return value;
  });
}

function requestValues(ctx: ArgvContext): Values {
  const r = ctx.req;
  const h = ctx.flags.includes('h');
  return {
    sender: r.sender ? address(r.sender, ctx.flags, false) : ctx.nullSender,
    nexthop: h ? r.nexthop.toLowerCase() : r.nexthop,
    size: String(r.size),
    queue_id: r.queueId,
    client_address: r.logClientAddress,
    client_hostname: r.logClientName,
    client_helo: r.logHeloName,
    client_port: r.logClientPort,
    client_protocol: r.logProtocolName,
    // XXX the delivery request does not carry the SASL login (Postfix's
    // sasl_method, sasl_sender, sasl_username): these expand to nothing.
    sasl_method: '',
    sasl_sender: '',
    sasl_username: '',
  };
}

function recipientValues(
  ctx: ArgvContext,
  rcpt: DeliveryRequest['recipients'][number],
): Values {
  const f = ctx.flags;
  const at = rcpt.recipient.lastIndexOf('@');
  const local = at < 0 ? rcpt.recipient : rcpt.recipient.slice(0, at);
  const domain = at < 0 ? '' : rcpt.recipient.slice(at + 1);
  const mailbox = f.includes('u') ? local.toLowerCase() : local;
  const cut = [...mailbox].findIndex((ch) =>
    ctx.recipientDelimiter.includes(ch),
  );
  return {
    recipient: address(rcpt.recipient, f, true),
    original_recipient: address(rcpt.originalRecipient, f, true),
    mailbox,
    user: ctx.recipientDelimiter && cut >= 0 ? mailbox.slice(0, cut) : mailbox,
    extension: ctx.recipientDelimiter && cut >= 0 ? mailbox.slice(cut + 1) : '',
    domain: f.includes('h') ? domain.toLowerCase() : domain,
  };
}

// q quotes the local part as RFC 822 does; u and h fold the local part
// and the domain of recipients to lower case.
function address(addr: string, flags: string, recipient: boolean): string {
  const at = addr.lastIndexOf('@');
  let local = at < 0 ? addr : addr.slice(0, at);
  let domain = at < 0 ? '' : addr.slice(at);
  if (recipient && flags.includes('u')) local = local.toLowerCase();
  if (recipient && flags.includes('h')) domain = domain.toLowerCase();
  if (flags.includes('q')) local = quoteLocal(local);
  return local + domain;
}

const SPECIAL = /[\s()<>@,;:\\".[\]]/;

function quoteLocal(local: string): string {
  if (
    !SPECIAL.test(local) ||
    /^[^\s()<>@,;:\\"[\]]+(\.[^\s()<>@,;:\\"[\]]+)*$/.test(local)
  )
    return local;
  return `"${local.replace(/(["\\])/g, '\\$1')}"`;
}
