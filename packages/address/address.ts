// Envelope addresses as RFC 5321 writes them and as Postfix keeps them.
// The internal form has the local part unquoted ("a b@example.com");
// the external form quotes it where RFC 5321 requires ("\"a b\"@...").
//
//   parsePath('<@relay:"a b"@Example.COM>') // { address: 'a b@Example.COM' }
//   externalize('a b@x')                    // '"a b"@x'
//   splitAddress('user+ext@x')              // { local, domain }
//   splitExtension('user+ext', '+')         // { base: 'user', extension }
//
// Used by smtpd, cleanup, qmgr and the tables code. Known limit: group
// syntax and RFC 5322 comments in header addresses are not handled here.

export class AddressError extends Error {}

export interface ParsedPath {
  address: string; // internal form; '' for the null sender <>
  routed: boolean; // a source route was present and removed
}

const ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-";
const DOT_STRING = new RegExp(`^[${ATEXT}]+(\\.[${ATEXT}]+)*$`);
const UTF8_ATEXT = /[^\x00-\x7f]/;

// A MAIL FROM or RCPT TO path: "<addr>", "<>", "<@a,@b:addr>"; a missing
// pair of angle brackets is accepted, as Postfix does unless
// strict_rfc821_envelopes is set (the caller checks that).
export function parsePath(text: string): ParsedPath {
  let inner = text.trim();
  if (inner.startsWith('<')) {
    if (!inner.endsWith('>'))
      throw new AddressError('missing ">" after address');
    inner = inner.slice(1, -1).trim();
  }
  if (inner === '') return { address: '', routed: false };
  const route = stripSourceRoute(inner);
  if (route.rest === '') throw new AddressError('empty address after route');
  return { address: internalize(route.rest), routed: route.routed };
}

// RFC 5321 section 4.1.2 "A-d-l": "@host,@host:" before the mailbox.
// Section C says a server should ignore it, as Postfix does.
function stripSourceRoute(text: string): { rest: string; routed: boolean } {
  if (!text.startsWith('@')) return { rest: text, routed: false };
  const colon = text.indexOf(':');
  if (colon < 0) throw new AddressError('bad source route');
  const hops = text.slice(0, colon).split(',');
  if (!hops.every((hop) => /^@[^@,:\s]+$/.test(hop.trim())))
    throw new AddressError('bad source route');
  return { rest: text.slice(colon + 1), routed: true };
}

// External to internal: remove the quotes and backslash escapes of a
// quoted local part; the domain (name or [literal]) is kept as written.
export function internalize(text: string): string {
  // RFC 5321 allows no control characters, quoted or not.
  if (/[\x00-\x1f\x7f]/.test(text))
    throw new AddressError('control character in address');
  if (!text.startsWith('"')) {
    checkUnquoted(text);
    return text;
  }
  let local = '';
  let i = 1;
  for (; i < text.length && text[i] !== '"'; i++) {
    if (text[i] === '\\' && i + 1 < text.length) i++;
    local += text[i];
  }
  if (i >= text.length) throw new AddressError('missing closing quote');
  const rest = text.slice(i + 1);
  if (rest !== '' && !rest.startsWith('@'))
    throw new AddressError('text after quoted local part');
  checkDomain(rest.slice(1), rest !== '');
  return local + rest;
}

function checkUnquoted(text: string): void {
  if (/[\s<>()\[\]\\,;"]/.test(text.replace(/@\[[^\]]*\]$/, '')))
    throw new AddressError('bad address syntax');
  const { domain } = splitAddress(text);
  checkDomain(domain, text.includes('@'));
}

function checkDomain(domain: string, present: boolean): void {
  if (present && domain === '') throw new AddressError('empty domain');
}

// Internal to external: quote the local part when it is not a
// dot-string (RFC 5321 section 4.1.2), as Postfix's quote_821_local.
export function externalize(address: string): string {
  if (address === '') return '';
  const { local, domain } = splitAddress(address);
  const at = address.lastIndexOf('@') >= 0 ? '@' + domain : '';
  return quoteLocalPart(local) + at;
}

export function quoteLocalPart(local: string): string {
  if (local === '' || isDotString(local)) return local;
  return '"' + local.replace(/(["\\])/g, '\\$1') + '"';
}

function isDotString(local: string): boolean {
  return DOT_STRING.test(local.replace(new RegExp(UTF8_ATEXT, 'g'), 'x'));
}

// Split at the last "@": a quoted local part may itself hold one.
export function splitAddress(address: string): {
  local: string;
  domain: string;
} {
  const at = address.lastIndexOf('@');
  if (at < 0) return { local: address, domain: '' };
  return { local: address.slice(0, at), domain: address.slice(at + 1) };
}

export function joinAddress(local: string, domain: string): string {
  return domain ? `${local}@${domain}` : local;
}

// Domains compare without case and without a trailing dot; the local
// part keeps its case (RFC 5321 section 2.4) except for table lookups.
export function canonicalDomain(domain: string): string {
  return domain.toLowerCase().replace(/\.+$/, '');
}

export function lowerDomain(address: string): string {
  const { local, domain } = splitAddress(address);
  if (!address.includes('@')) return address;
  return `${local}@${canonicalDomain(domain)}`;
}

// "[1.2.3.4]" or "[IPv6:::1]" gives the address, else undefined.
export function addressLiteral(domain: string): string | undefined {
  const match = /^\[(?:ipv6:)?([^\]]+)\]$/i.exec(domain);
  return match ? match[1] : undefined;
}

export interface Extension {
  base: string; // local part without the extension
  extension: string; // '' when there is none
  delimiter: string; // the delimiter character found, or ''
}

// recipient_delimiter may list several characters (Postfix 2.11); the
// first one found splits. As in Postfix's split_addr, postmaster and
// mailer-daemon are never split, nor owner-x and x-request with "-".
export function splitExtension(local: string, delimiters: string): Extension {
  const none = { base: local, extension: '', delimiter: '' };
  if (!delimiters || isReservedLocal(local)) return none;
  let at = -1;
  for (let i = 1; i < local.length && at < 0; i++)
    if (delimiters.includes(local[i])) at = i;
  if (at < 0) return none;
  const delimiter = local[at];
  if (delimiter === '-' && isOwnerStyle(local)) return none;
  return {
    base: local.slice(0, at),
    extension: local.slice(at + 1),
    delimiter,
  };
}

function isReservedLocal(local: string): boolean {
  const lower = local.toLowerCase();
  return lower === 'postmaster' || lower === 'mailer-daemon';
}

function isOwnerStyle(local: string): boolean {
  const lower = local.toLowerCase();
  return lower.startsWith('owner-') || lower.endsWith('-request');
}

// A domain name or address literal that may appear after "@".
export function validDomain(domain: string): boolean {
  const literal = addressLiteral(domain);
  if (literal !== undefined) return /^[0-9A-Fa-f.:]+$/.test(literal);
  if (domain.length > 255 || domain === '') return false;
  return domain
    .replace(/\.$/, '')
    .split('.')
    .every(
      (label) =>
        /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label) ||
        UTF8_ATEXT.test(label),
    );
}
