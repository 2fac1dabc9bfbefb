// Helpers shared by local's destinations: the envelope headers a kind of
// destination gets (prepend_delivered_header, enable_original_recipient),
// the rights a file or command runs with, and the command environment.

import { getpwnam } from './local_user';
import {
  deferred,
  DeliveryFailure,
  type DeliveryAttr,
  type LocalContext,
  type Rights,
} from './local_state';

export type CopyKind = 'mailbox' | 'command' | 'file' | 'forward';

export function copyHeaders(
  ctx: LocalContext,
  attr: DeliveryAttr,
  kind: CopyKind,
): { originalRecipient: string; deliveredTo: string } {
  const s = ctx.settings;
  const delivered =
    kind === 'mailbox' || s.prependDeliveredHeader.includes(kind);
  return {
    originalRecipient:
      s.enableOriginalRecipient && kind !== 'forward' ? attr.origRecipient : '',
    deliveredTo: delivered ? attr.delivered : '',
  };
}

// Files and commands never run as root: an alias or recipient with root's
// rights gets default_privs instead, as in Postfix.
export function privsFor(ctx: LocalContext, attr: DeliveryAttr): Rights {
  if (attr.rights && attr.rights.uid !== 0) return attr.rights;
  const name = ctx.settings.defaultPrivs;
  const pw = getpwnam(name);
  if (!pw)
    throw new DeliveryFailure(
      deferred('4.3.0', `unknown default_privs user: ${name}`),
    );
  if (pw.uid === 0)
    throw new DeliveryFailure(
      deferred('4.3.0', `default_privs user ${name} must not be root`),
    );
  return { ...pw, home: attr.rights?.home ?? pw.home };
}

// The environment local(8) documents for commands, and nothing else
// from ours: PATH is fixed, as Postfix's _PATH_DEFPATH.
export function commandEnv(
  ctx: LocalContext,
  attr: DeliveryAttr,
  user: Rights,
  parts: { local: string; extension: string; domain: string },
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: '/usr/bin:/bin',
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    SHELL: user.shell,
    LOCAL: parts.local,
    DOMAIN: parts.domain,
    RECIPIENT: attr.recipient,
    ORIGINAL_RECIPIENT: attr.origRecipient,
    SENDER: ctx.msg.sender,
    CLIENT_HOSTNAME: ctx.msg.client.name,
    CLIENT_ADDRESS: ctx.msg.client.address,
    CLIENT_PROTOCOL: ctx.msg.client.protocol,
    CLIENT_HELO: ctx.msg.client.helo,
  };
  if (parts.extension) env.EXTENSION = parts.extension;
  if (ctx.msg.envelopeId) env.ENVID = ctx.msg.envelopeId;
  for (const name of ['TZ', 'LANG'])
    if (process.env[name]) env[name] = process.env[name]!;
  return env;
}

export function splitAddress(address: string, delimiter: string) {
  const at = address.lastIndexOf('@');
  const local = (at < 0 ? address : address.slice(0, at)).toLowerCase();
  const domain = at < 0 ? '' : address.slice(at + 1).toLowerCase();
  let user = local;
  let extension = '';
  const cut = delimiter ? firstOf(local, delimiter) : -1;
  if (cut > 0) {
    user = local.slice(0, cut);
    extension = local.slice(cut + 1);
  }
  return { address, local, user, extension, domain };
}

function firstOf(text: string, chars: string): number {
  for (let i = 0; i < text.length; i++) if (chars.includes(text[i])) return i;
  return -1;
}
