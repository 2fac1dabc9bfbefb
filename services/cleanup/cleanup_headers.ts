// Address rewriting in message headers: the addresses of From:, To:,
// Cc: and the other sender and recipient headers are completed
// (@$myorigin, or remote_header_rewrite_domain for remote mail) and go
// through canonical mapping per canonical_classes; the rest of the
// header (names, comments, folding) stays as it was. Used by
// cleanup_message.ts. Limit: an address
// that also appears inside a comment or name of the same header may be
// replaced there instead of in its angle brackets.

import addressparser from 'nodemailer/lib/addressparser';
import {
  rewriteAddressSync,
  type RewriteContext,
} from '../../packages/address/rewrite';
import { CANON_CLASS, canonicalize, type CanonClass } from './cleanup_rewrite';
import type { CleanupState } from './cleanup_state';

// Postfix's header_opts: which headers carry sender or recipient addresses.
const SENDER_HEADERS = new Set([
  'from',
  'sender',
  'reply-to',
  'errors-to',
  'return-receipt-to',
  'resent-from',
  'resent-sender',
  'resent-reply-to',
]);

const RECIPIENT_HEADERS = new Set([
  'to',
  'cc',
  'bcc',
  'apparently-to',
  'resent-to',
  'resent-cc',
  'resent-bcc',
]);

export function headerClass(name: string): CanonClass | undefined {
  if (SENDER_HEADERS.has(name)) return CANON_CLASS.HEADER_SENDER;
  if (RECIPIENT_HEADERS.has(name)) return CANON_CLASS.HEADER_RECIPIENT;
  return undefined;
}

// Postfix rewrites headers of remote mail only when
// remote_header_rewrite_domain is set (local_header_rewrite_clients
// decides which clients are local: smtpd passes rewrite_context).
function mayRewriteHeaders(state: CleanupState): boolean {
  if (state.attrs.get('rewrite_context') !== 'remote') return true;
  return state.config.get('remote_header_rewrite_domain').trim() !== '';
}

// Headers of mail without a context (bounce, forwarding) are ours.
function headerContext(state: CleanupState): RewriteContext {
  return state.attrs.get('rewrite_context') === 'remote' ? 'remote' : 'local';
}

// addressparser reads a lone word ("To: joe") as a display name; RFC 822
// and Postfix read it as a local part, so such a word counts as one.
const BARE_LOCAL = /^[^\s"<>()@,;:\\]+$/;

// "a@b", "<a@b>" and "Plain Name <a@b>": the usual forms, whose address
// a pattern finds as addressparser would; it was a tenth of cleanup's
// time per message. Quotes, comments, groups, lists and anything not
// plain ASCII go to addressparser.
const PLAIN_ADDRESS = '[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+';
const SIMPLE_ADDRESS = new RegExp(
  `^\\s*(?:[A-Za-z0-9 ._-]*<(${PLAIN_ADDRESS})>|(${PLAIN_ADDRESS}))\\s*$`,
);

export function addressesOf(value: string): string[] {
  const simple = SIMPLE_ADDRESS.exec(value);
  if (simple) return [simple[1] ?? simple[2]];
  const out: string[] = [];
  for (const item of addressparser(value, { flatten: true })) {
    if (item.address) out.push(item.address);
    else if (BARE_LOCAL.test(item.name)) out.push(item.name);
  }
  return out;
}

// The header's lines with each mapped address replaced where it stands;
// undefined when nothing changed.
// XXX the address is found by text search after the previous one, so an
// address that also appears earlier in a comment or display name of the
// same header is replaced there; Postfix rewrites the parsed tokens.
export async function rewriteHeader(
  state: CleanupState,
  name: string,
  lines: string[],
): Promise<string[] | undefined> {
  const klass = headerClass(name);
  if (!klass || !mayRewriteHeaders(state)) return undefined;
  const text = lines.join('\n');
  const colon = text.indexOf(':') + 1;
  let out = text.slice(0, colon);
  let rest = text.slice(colon);
  let changed = false;
  for (const address of addressesOf(rest.replace(/\n/g, ' '))) {
    const complete = rewriteAddressSync(
      address,
      headerContext(state),
      state.config,
    );
    const mapped = await canonicalize(state, complete, klass);
    const at = rest.indexOf(address);
    if (at < 0) continue;
    out += rest.slice(0, at) + (mapped === address ? address : mapped);
    rest = rest.slice(at + address.length);
    changed ||= mapped !== address;
  }
  return changed ? (out + rest).split('\n') : undefined;
}
