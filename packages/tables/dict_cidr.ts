// cidr: tables (cidr_table(5)): "network/prefix result", a bare address
// for an exact match, "!pattern", and "if pattern" ... "endif"; IPv4 and
// IPv6, the first match wins. Used by smtpd for client address checks.
// A network with host bits set is skipped with Postfix's warning.

import * as net from 'node:net';
import type { Dict } from './dict';
import { DICT_FLAG } from './dict';
import { readSourceFile, SourceLine } from './dict_source';
import { reloading } from './dict_file';
import { splitBracedList } from './dict_parse';
import { msg } from '../log/log';

interface CidrRule {
  kind: 'match' | 'if' | 'endif';
  network: Buffer;
  prefix: number;
  negate: boolean;
  result: string;
  end: number;
}

// A file is parsed again when it changes; an inline table never does.
export function openCidr(name: string): Dict {
  const inline = name.trim().startsWith('{');
  const load = () => loadCidr(name, cidrLines(name, inline));
  const initial = inline ? load() : undefined;
  const rules = initial ? () => initial : reloading(name, load);
  return {
    type: 'cidr',
    name,
    flags: DICT_FLAG.PATTERN,
    lookup: async (key) => evaluateCidr(rules(), key),
    close: () => undefined,
  };
}

function cidrLines(name: string, inline: boolean): SourceLine[] {
  if (!inline) return readSourceFile(name);
  return splitBracedList(name).map((text, i) => ({ lineNo: i + 1, text }));
}

function evaluateCidr(rules: CidrRule[], key: string): string | undefined {
  const address = addressBytes(
    key.replace(/^\[|\]$/g, '').replace(/^ipv6:/i, ''),
  );
  if (!address) return undefined;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    if (rule.kind === 'endif') continue;
    const hit = inNetwork(address, rule.network, rule.prefix) !== rule.negate;
    if (rule.kind === 'if') {
      if (!hit) i = rule.end;
    } else if (hit) return rule.result;
  }
  return undefined;
}

function inNetwork(address: Buffer, network: Buffer, prefix: number): boolean {
  if (address.length !== network.length) return false;
  return maskedEquals(address, network, prefix);
}

function maskedEquals(a: Buffer, b: Buffer, prefix: number): boolean {
  const whole = Math.floor(prefix / 8);
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const bits = prefix % 8;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (a[whole] & mask) === (b[whole] & mask);
}

function loadCidr(name: string, lines: SourceLine[]): CidrRule[] {
  const rules: CidrRule[] = [];
  const open: number[] = [];
  for (const line of lines) {
    const where = `cidr map ${name}, line ${line.lineNo}`;
    const rule = parseCidrLine(line.text.trim(), where);
    if (!rule) continue;
    if (rule.kind === 'endif') {
      const start = open.pop();
      if (start === undefined) {
        msg.warn(`${where}: ignoring ENDIF without matching IF`);
        continue;
      }
      rules[start].end = rules.length;
    }
    if (rule.kind === 'if') open.push(rules.length);
    rules.push(rule);
  }
  for (const start of open) rules[start].end = rules.length;
  return rules;
}

function parseCidrLine(text: string, where: string): CidrRule | undefined {
  const empty = Buffer.alloc(0);
  if (/^endif$/i.test(text))
    return {
      kind: 'endif',
      network: empty,
      prefix: 0,
      negate: false,
      result: '',
      end: 0,
    };
  const isIf = /^if\s/i.test(text);
  const body = isIf ? text.slice(2).trim() : text;
  const negate = body.startsWith('!');
  const [pattern, ...rest] = (negate ? body.slice(1) : body)
    .trim()
    .split(/\s+/);
  const result = rest.join(' ');
  if (!isIf && !result) {
    msg.warn(`${where}: no lookup result for "${pattern}"`);
    return undefined;
  }
  const parsed = parseNetwork(pattern, where);
  if (!parsed) return undefined;
  return { kind: isIf ? 'if' : 'match', ...parsed, negate, result, end: 0 };
}

function parseNetwork(
  pattern: string,
  where: string,
): { network: Buffer; prefix: number } | undefined {
  const [addrText, prefixText] = pattern.split('/');
  const network = addressBytes(addrText.replace(/^\[|\]$/g, ''));
  const max = network ? network.length * 8 : 0;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!network || !/^\d*$/.test(prefixText ?? '') || prefix > max) {
    msg.warn(`${where}: bad net/mask pattern: "${pattern}"`);
    return undefined;
  }
  if (hostBitsSet(network, prefix)) {
    msg.warn(
      `${where}: non-null host address bits in "${pattern}", perhaps you should use "${formatNetwork(network, prefix)}" instead`,
    );
    return undefined;
  }
  return { network, prefix };
}

function hostBitsSet(network: Buffer, prefix: number): boolean {
  const masked = Buffer.from(network);
  clearHostBits(masked, prefix);
  return !masked.equals(network);
}

function clearHostBits(bytes: Buffer, prefix: number): void {
  for (let bit = prefix; bit < bytes.length * 8; bit++)
    bytes[bit >> 3] &= ~(0x80 >> (bit & 7));
}

function formatNetwork(network: Buffer, prefix: number): string {
  const masked = Buffer.from(network);
  clearHostBits(masked, prefix);
  if (masked.length === 4) return `${[...masked].join('.')}/${prefix}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push(masked.readUInt16BE(i).toString(16));
  return `${groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}/${prefix}`;
}

// 4 bytes for IPv4, 16 for IPv6 (with an embedded IPv4 tail allowed).
export function addressBytes(text: string): Buffer | undefined {
  const kind = net.isIP(text);
  if (kind === 4) return Buffer.from(text.split('.').map(Number));
  if (kind === 6) return ipv6Bytes(text);
  return undefined;
}

function ipv6Bytes(text: string): Buffer {
  const hex = text.replace(
    /(\d+)\.(\d+)\.(\d+)\.(\d+)$/,
    (_all, a, b, c, d) =>
      `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`,
  );
  const [left, right] = hex.split('::');
  const groups = (s?: string) =>
    s ? s.split(':').map((g) => parseInt(g, 16)) : [];
  const l = groups(left);
  const r = groups(right);
  const fill = hex.includes('::') ? 8 - l.length - r.length : 0;
  const all = [...l, ...new Array<number>(fill).fill(0), ...r];
  const out = Buffer.alloc(16);
  all.slice(0, 8).forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}
