// master.cf as master(5) describes it: eight columns, '-' for defaults,
// { } grouping, -o overrides, continuation lines and comments. Master
// reads the entries it runs from here and postconf -M/-F/-P shows them.
// Errors name "/path/master.cf, line N". Editing is in master_cf_edit.ts.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, describeError, splitPhysical } from './main_cf';

export const SERVICE_TYPES = [
  'inet',
  'unix',
  'unix-dgram',
  'fifo',
  'pass',
] as const;

export type ServiceType = (typeof SERVICE_TYPES)[number];

// The column names, as postconf -F and master(5) call them.
export const MASTER_FIELDS = [
  'service',
  'type',
  'private',
  'unprivileged',
  'chroot',
  'wakeup',
  'process_limit',
  'command',
] as const;

// Master's names for the columns after the first, in its error messages.
const ENTRY_FIELDS = [
  'transport type',
  'private',
  'unprivileged',
  'chroot',
  'wakeup_time',
  'max_proc',
  'command',
] as const;

export interface MasterEntry {
  name: string; // the service column, e.g. "smtp" or "127.0.0.1:2525"
  type: ServiceType;
  private: boolean;
  unpriv: boolean;
  chroot: boolean;
  wakeup: number; // seconds, 0 for none
  wakeupConditional: boolean; // "N?": only when the service was used
  maxproc: number; // 0 for unlimited
  command: string;
  args: string[]; // after the command, without -o pairs
  overrides: Record<string, string>; // -o name=value
  line: number;
  fields: string[]; // the seven columns as written, for postconf -M
  words: string[]; // command and arguments as written
}

export interface MasterParseOptions {
  defaultProcessLimit?: number;
  warn?: (text: string) => void;
}

interface Word {
  text: string; // as written, braces kept
  value: string; // braces and their inner white space removed
}

export function parseMasterCf(
  text: string,
  file: string,
  options: MasterParseOptions = {},
): MasterEntry[] {
  const byKey = new Map<string, MasterEntry>();
  for (const logical of masterLogicalLines(text)) {
    const where = `${file}, line ${logical.line}`;
    const entry = parseEntry(logical.text, logical.line, where, options);
    const key = `${entry.name}/${entry.type}`;
    if (byKey.has(key)) {
      options.warn?.(`${where}: duplicate service ${key}: the last one wins`);
      byKey.delete(key);
    }
    byKey.set(key, entry);
  }
  return [...byKey.values()];
}

export function readMasterCf(
  configDir: string,
  options: MasterParseOptions = {},
): { file: string; entries: MasterEntry[] } {
  const file = path.join(configDir, 'master.cf');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`open ${file}: ${describeError(err)}`);
  }
  return { file, entries: parseMasterCf(text, file, options) };
}

// Commands that master serves itself: postlogd's job (the one log
// writer) is master's here.
export const BUILTIN_COMMANDS: ReadonlySet<string> = new Set(['postlogd']);

// Master runs $daemon_directory/<command>/<command>.js for each entry.
export function commandPath(daemonDir: string, command: string): string {
  return path.join(daemonDir, command, `${command}.js`);
}

export function checkCommands(
  entries: MasterEntry[],
  daemonDir: string,
  file: string,
): void {
  for (const entry of entries) {
    if (BUILTIN_COMMANDS.has(entry.command)) continue;
    const script = commandPath(daemonDir, entry.command);
    if (!fs.existsSync(script))
      throw new ConfigError(
        `${file}, line ${entry.line}: unknown command: ` +
          `${entry.command}: ${script}: No such file or directory`,
      );
  }
}

// [host:]port of an inet service; host undefined means inet_interfaces.
export function parseInetService(service: string): {
  host?: string;
  port: string;
} {
  const bracketed = /^\[([^\]]*)\]:(.+)$/.exec(service);
  if (bracketed) return { host: bracketed[1], port: bracketed[2] };
  const colon = service.lastIndexOf(':');
  if (colon < 0) return { port: service };
  return { host: service.slice(0, colon), port: service.slice(colon + 1) };
}

function masterLogicalLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  splitPhysical(text).forEach((line, i) => {
    if (/^\s*(#|$)/.test(line)) return;
    const last = out[out.length - 1];
    if (/^\s/.test(line) && last) last.text += ' ' + line.trim();
    else out.push({ line: i + 1, text: line.trim() });
  });
  return out;
}

function parseEntry(
  text: string,
  line: number,
  where: string,
  options: MasterParseOptions,
): MasterEntry {
  const words = splitWords(text, where);
  if (words.length < 8)
    throw new ConfigError(
      `${where}: missing "${ENTRY_FIELDS[words.length - 1]}" field`,
    );
  const fields = words.slice(0, 7).map((word) => word.text);
  const [name, type, priv, unpriv, chroot, wakeup, maxproc] = fields;
  const serviceType = parseType(type, where);
  const wake = parseWakeup(wakeup, where);
  const { args, overrides } = parseArguments(words.slice(8), where);
  return {
    name,
    type: serviceType,
    private: parsePrivate(priv, serviceType, where),
    unpriv: parseFlag('unprivileged', unpriv, true, where),
    chroot: parseFlag('chroot', chroot, false, where),
    wakeup: wake.seconds,
    wakeupConditional: wake.conditional,
    maxproc: parseMaxproc(maxproc, options.defaultProcessLimit ?? 100, where),
    command: words[7].value,
    args,
    overrides,
    line,
    fields,
    words: words.slice(7).map((word) => word.text),
  };
}

function badField(where: string, field: string, value: string): ConfigError {
  return new ConfigError(`${where}: field "${field}": bad value: "${value}"`);
}

// Inet sockets have no private/ or public/ directory to live in.
function parsePrivate(text: string, type: ServiceType, where: string): boolean {
  const isPrivate = parseFlag('private', text, type !== 'inet', where);
  if (isPrivate && type === 'inet')
    throw new ConfigError(`${where}: inet service cannot be private`);
  return isPrivate;
}

function parseType(text: string, where: string): ServiceType {
  if ((SERVICE_TYPES as readonly string[]).includes(text))
    return text as ServiceType;
  throw new ConfigError(`${where}: bad transport type: ${text}`);
}

function parseFlag(
  field: string,
  text: string,
  fallback: boolean,
  where: string,
): boolean {
  if (text === '-') return fallback;
  if (text === 'y') return true;
  if (text === 'n') return false;
  throw badField(where, field, text);
}

function parseWakeup(
  text: string,
  where: string,
): { seconds: number; conditional: boolean } {
  if (text === '-') return { seconds: 0, conditional: false };
  const match = /^(\d+)(\??)$/.exec(text);
  if (!match) throw badField(where, 'wakeup_time', text);
  return { seconds: Number(match[1]), conditional: match[2] === '?' };
}

function parseMaxproc(text: string, fallback: number, where: string): number {
  if (text === '-') return fallback;
  if (!/^\d+$/.test(text)) throw badField(where, 'max_proc', text);
  return Number(text);
}

// -o name=value, -o { name = value }, -oname=value; the rest stay args.
function parseArguments(
  words: Word[],
  where: string,
): { args: string[]; overrides: Record<string, string> } {
  const args: string[] = [];
  const overrides: Record<string, string> = {};
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (!word.text.startsWith('-o')) {
      args.push(word.value);
      continue;
    }
    let text = word.text.slice(2);
    if (word.text === '-o') {
      const next = words[++i];
      if (!next)
        throw new ConfigError(`${where}: option -o requires name=value`);
      text = next.value;
    }
    const [name, value] = splitSetting(text, where);
    overrides[name] = value;
  }
  return { args, overrides };
}

function splitSetting(text: string, where: string): [string, string] {
  const eq = text.indexOf('=');
  const name = eq < 0 ? '' : text.slice(0, eq).trim();
  if (name === '')
    throw new ConfigError(
      `${where}: bad -o argument: "${text}": need name=value`,
    );
  return [name, text.slice(eq + 1).trim()];
}

// White-space separated words; "{ ... }" is one word whose value is the
// text inside without the outer white space (empty allowed).
function splitWords(text: string, where: string): Word[] {
  const words: Word[] = [];
  let pos = 0;
  while (pos < text.length) {
    if (/\s/.test(text[pos])) {
      pos++;
      continue;
    }
    const end =
      text[pos] === '{' ? groupEnd(text, pos, where) : wordEnd(text, pos);
    const raw = text.slice(pos, end);
    const value = raw.startsWith('{') ? raw.slice(1, -1).trim() : raw;
    words.push({ text: raw, value });
    pos = end;
  }
  return words;
}

function wordEnd(text: string, pos: number): number {
  while (pos < text.length && !/\s/.test(text[pos])) pos++;
  return pos;
}

function groupEnd(text: string, pos: number, where: string): number {
  let depth = 0;
  for (let i = pos; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return i + 1;
  }
  throw new ConfigError(`${where}: missing '}' in "${text.slice(pos)}"`);
}
