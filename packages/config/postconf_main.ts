// What postconf does with main.cf: show parameters (name..., -n, -d,
// -h, -H, -x, -f) in Postfix's "name = value" shape and edit the file
// (-e, -X, -#). packages/commands/postconf.ts is the front end that
// parses flags and prints; all decisions are made here.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Config } from './config';
import {
  ConfigError,
  editMainCfText,
  MainCfEdit,
  splitNameValue,
  writeFileAtomic,
} from './main_cf';

export interface ShowOptions {
  defaults?: boolean; // -d
  setOnly?: boolean; // -n
  expand?: boolean; // -x
  nameOnly?: boolean; // -H
  valueOnly?: boolean; // -h
  fold?: boolean; // -f
}

export interface ShowResult {
  lines: string[];
  warnings: string[]; // without "postconf: warning: "
}

export function showParameters(
  config: Config,
  names: string[],
  options: ShowOptions,
): ShowResult {
  const warnings: string[] = [];
  // Defaults expand against defaults only, as Postfix's -d -x does.
  if (options.defaults) config = config.withoutMainCf();
  const chosen = names.length ? names : listedNames(config, options);
  const lines: string[] = [];
  for (const name of chosen) {
    const value = parameterValue(config, name, options);
    if (value === undefined) warnings.push(`${name}: unknown parameter`);
    else lines.push(...formatParameter(name, value, options));
  }
  return { lines, warnings };
}

function listedNames(config: Config, options: ShowOptions): string[] {
  if (options.setOnly) {
    const set = [...config.mainCfNames(), ...config.overrideNames()];
    return [...new Set(set)].sort();
  }
  const names = new Set(config.catalog.keys());
  if (!options.defaults)
    for (const name of config.mainCfNames()) names.add(name);
  return [...names].sort();
}

// The text as main.cf (or -o) has it, else the default; undefined when
// the name is unknown to both.
function parameterValue(
  config: Config,
  name: string,
  options: ShowOptions,
): string | undefined {
  const def = config.catalog.get(name);
  let text = options.defaults ? undefined : config.raw(name);
  if (text === undefined && def) text = config.defaultValue(def);
  if (text === undefined) return undefined;
  return options.expand ? config.expandText(text) : text;
}

function formatParameter(
  name: string,
  value: string,
  options: ShowOptions,
): string[] {
  if (options.nameOnly) return [name];
  const line = options.valueOnly
    ? value
    : value === ''
      ? `${name} =`
      : `${name} = ${value}`;
  return options.fold ? foldLine(line) : [line];
}

// Postfix's -f: break at white space before column 80 and indent the
// rest, as a main.cf continuation line is.
export function foldLine(line: string, width = 80): string[] {
  const out: string[] = [];
  let current = '';
  for (const word of line.split(' ')) {
    const next = current === '' ? word : `${current} ${word}`;
    if (next.length > width && current.trim() !== '') {
      out.push(current);
      current = `    ${word}`;
    } else current = next;
  }
  out.push(current);
  return out;
}

export type EditMode = 'set' | 'remove' | 'comment';

// -e name=value..., -X name..., -# name...: one rewrite of main.cf.
export function editParameters(
  configDir: string,
  mode: EditMode,
  args: string[],
): void {
  const file = path.join(configDir, 'main.cf');
  const edits = new Map<string, MainCfEdit>();
  for (const arg of args) {
    if (mode !== 'set') edits.set(arg, { kind: mode });
    else {
      const { name, value } = splitNameValue(arg, 'edit');
      edits.set(name, { kind: 'set', value });
    }
  }
  writeFileAtomic(file, editMainCfText(readForEdit(file, mode), edits));
}

function readForEdit(file: string, mode: EditMode): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    // Setting a value may create main.cf; removing from nothing may not.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && mode === 'set')
      return '';
    throw new ConfigError(`open ${file}: ${(err as Error).message}`);
  }
}

// What mailbox_delivery_lock may name on this system.
export const LOCK_METHODS = ['flock', 'fcntl', 'dotlock'] as const;
