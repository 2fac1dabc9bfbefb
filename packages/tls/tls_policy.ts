// What smtpd and the smtp client share about TLS: the security levels,
// Postfix's protocol lists (">=TLSv1", "!SSLv2, !SSLv3") and cipher
// grades turned into node:tls options, and the one-line summary of a
// finished handshake that both log. Limits: node:tls takes a range of
// versions, so a list with a hole ("TLSv1, TLSv1.2") gets the range.

import type { TLSSocket } from 'node:tls';

export const TLS_LEVEL = {
  NONE: 'none',
  MAY: 'may',
  ENCRYPT: 'encrypt',
  VERIFY: 'verify', // the smtp client only
} as const;

export type TlsLevel = (typeof TLS_LEVEL)[keyof typeof TLS_LEVEL];

export class TlsPolicyError extends Error {}

// What each side accepts: smtpd has no certificate-checking levels.
const SERVER_LEVELS: TlsLevel[] = ['none', 'may', 'encrypt'];
const CLIENT_LEVELS: TlsLevel[] = ['none', 'may', 'encrypt', 'verify'];

// An empty level is Postfix's compiled-in default: no TLS at all.
// XXX dane, fingerprint and secure (checks by pin or by the nexthop
// name) are not implemented and are refused as unknown.
export function parseLevel(
  param: string,
  text: string,
  known: TlsLevel[] = SERVER_LEVELS,
): TlsLevel {
  const value = text.trim().toLowerCase();
  if (value === '') return TLS_LEVEL.NONE;
  if ((known as string[]).includes(value)) return value as TlsLevel;
  throw new TlsPolicyError(`invalid ${param} value: "${text}"`);
}

// encrypt and every level above it use the _mandatory_ lists.
export function isMandatory(level: TlsLevel): boolean {
  return level === TLS_LEVEL.ENCRYPT || level === TLS_LEVEL.VERIFY;
}

// The level a daemon runs at: its *_tls_security_level, or when that is
// empty the Postfix 2.2 booleans it replaced (prefix "smtpd" or "smtp").
export function securityLevel(
  get: (name: string) => string,
  prefix: string,
): TlsLevel {
  const name = `${prefix}_tls_security_level`;
  const known = prefix === 'smtpd' ? SERVER_LEVELS : CLIENT_LEVELS;
  const level = parseLevel(name, get(name), known);
  if (get(name).trim() !== '') return level;
  if (/^y/i.test(get(`${prefix}_enforce_tls`))) return TLS_LEVEL.ENCRYPT;
  if (/^y/i.test(get(`${prefix}_use_tls`))) return TLS_LEVEL.MAY;
  return TLS_LEVEL.NONE;
}

// Oldest first; SSLv2 and SSLv3 are names Postfix lists accept, but
// node:tls cannot speak them, so they are never in a range.
const VERSIONS = ['SSLv2', 'SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
const FIRST_USABLE = VERSIONS.indexOf('TLSv1');

export interface VersionRange {
  minVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  maxVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
}

// Postfix's syntax: ">=V" and "<=V" bounds, "!V" exclusions, or plain
// names that list what is allowed; separators are commas, colons and
// white space.
export function parseProtocols(param: string, text: string): VersionRange {
  const allowed = new Set(VERSIONS.slice(FIRST_USABLE));
  const listed = new Set<string>();
  for (const word of text.split(/[\s,:]+/).filter(Boolean)) {
    const m = /^(>=|<=|!)?(.+)$/.exec(word)!;
    const index = VERSIONS.findIndex(
      (v) => v.toLowerCase() === m[2].toLowerCase(),
    );
    if (index < 0)
      throw new TlsPolicyError(`invalid ${param} value: "${text}"`);
    applyProtocolWord(allowed, listed, m[1] ?? '', index);
  }
  const kept = VERSIONS.filter(
    (v) => allowed.has(v) && (listed.size === 0 || listed.has(v)),
  );
  if (kept.length === 0)
    throw new TlsPolicyError(`${param} leaves no protocol: "${text}"`);
  return {
    minVersion: kept[0] as VersionRange['minVersion'],
    maxVersion: kept[kept.length - 1] as VersionRange['maxVersion'],
  };
}

function applyProtocolWord(
  allowed: Set<string>,
  listed: Set<string>,
  op: string,
  index: number,
): void {
  VERSIONS.forEach((v, i) => {
    if (op === '>=' && i < index) allowed.delete(v);
    if (op === '<=' && i > index) allowed.delete(v);
  });
  if (op === '!') allowed.delete(VERSIONS[index]);
  if (op === '') listed.add(VERSIONS[index]);
}

// Postfix's grades as OpenSSL cipher lists. Anonymous suites are left
// out: node:tls would need security level 0 for them.
const CIPHER_GRADES: Record<string, string> = {
  high: 'HIGH:!aNULL:@STRENGTH',
  medium: 'HIGH:MEDIUM:!aNULL:@STRENGTH',
  low: 'HIGH:MEDIUM:LOW:!aNULL:@STRENGTH',
  export: 'HIGH:MEDIUM:LOW:EXPORT:!aNULL:@STRENGTH',
  null: 'eNULL:!aNULL',
};

export function cipherList(param: string, grade: string): string {
  const list = CIPHER_GRADES[grade.trim().toLowerCase()];
  if (!list) throw new TlsPolicyError(`invalid ${param} value: "${grade}"`);
  return list;
}

// Secret bits of a cipher, from its name, for "(256/256 bits)".
function cipherBits(name: string): number {
  if (/AES_?256|AES256|CHACHA20|CAMELLIA256|ARIA256/i.test(name)) return 256;
  if (/AES_?128|AES128|CAMELLIA128|ARIA128|SEED/i.test(name)) return 128;
  if (/3DES|DES-CBC3/i.test(name)) return 168;
  return 0;
}

// The key of a certificate as Postfix names the signature made with it.
function signatureText(cert: CertKey, protocol: string): string {
  if (cert.asn1Curve || cert.nistCurve)
    return `ECDSA (${cert.nistCurve ?? cert.asn1Curve})`;
  if (!cert.bits) return '';
  const rsa = protocol === 'TLSv1.3' ? 'RSA-PSS' : 'RSA';
  return `${rsa} (${cert.bits} bits)`;
}

interface CertKey {
  bits?: number;
  asn1Curve?: string;
  nistCurve?: string;
}

// "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
// key-exchange X25519 server-signature RSA-PSS (2048 bits)", the text
// after the colon of "... TLS connection established ...".
// XXX no "server-digest" part: node:tls does not tell which digest the
// signature used; on the server side the key exchange is not known.
export function tlsSummary(
  socket: TLSSocket,
  side: 'server' | 'client',
): string {
  const protocol = socket.getProtocol() ?? 'unknown';
  const cipher = socket.getCipher();
  const bits = cipherBits(cipher.name);
  const parts = [
    `${protocol} with cipher ${cipher.name} (${bits}/${bits} bits)`,
  ];
  const kx = side === 'server' ? {} : socket.getEphemeralKeyInfo();
  if (kx && 'name' in kx && kx.name) parts.push(`key-exchange ${kx.name}`);
  const cert = (
    side === 'server' ? socket.getCertificate() : socket.getPeerCertificate()
  ) as CertKey | null;
  const sig = cert ? signatureText(cert, protocol) : '';
  if (sig) parts.push(`server-signature ${sig}`);
  return parts.join(' ');
}

// The protocol and cipher alone, for the Received: header comment.
export function tlsCipherText(socket: TLSSocket): string {
  const protocol = socket.getProtocol() ?? 'unknown';
  const name = socket.getCipher().name;
  const bits = cipherBits(name);
  return `${protocol} with cipher ${name} (${bits}/${bits} bits)`;
}

// An OpenSSL error as one short line, in the shape Postfix logs after
// "TLS library problem:": "error:0A000102:SSL routines::unsupported
// protocol"; other errors keep their first line.
export function tlsErrorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const m = /error:([0-9A-Fa-f]+):([^:]*):[^:]*:([^:\n]+)/.exec(text);
  if (m) return `error:${m[1]}:${m[2]}::${m[3]}`;
  return text.split('\n')[0].trim().slice(0, 200);
}

// smtpd_tls_received_header: smtpd hands cleanup this attribute, whose
// value is tlsCipherText's; cleanup is to put tlsReceivedLines right
// after its "Received: from" line, and not store the attribute.
export const TLS_RECEIVED_ATTR = 'tls_received';

export function tlsReceivedLines(value: string): string[] {
  return [`\t(using ${value})`, '\t(No client certificate requested)'];
}
