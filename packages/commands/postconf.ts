#!/usr/bin/env node
// postconf(1): show and edit main.cf, show master.cf entries, fields and
// -o parameters, list table types and lock methods. A thin front end:
// flags are parsed here, the work is in packages/config/postconf_*.ts.
// Limits: no -j (JSON), -C (classes), -t/-T (templates, TLS), -a/-A.

import { dictTypes } from '../tables/dict';
import { parseArgs } from 'node:util';
import { initLog, msg } from '../log/log';
import { Config, ConfigError, resolveConfigDir } from '../config/config';
import { MasterEntry } from '../config/master_cf';
import { loadMasterCf, unusedWarnings } from '../config/check';
import {
  editParameters,
  EditMode,
  LOCK_METHODS,
  showParameters,
} from '../config/postconf_main';
import {
  editMasterCf,
  masterEdits,
  MasterTarget,
} from '../config/master_cf_edit';
import {
  showMasterEntries,
  showMasterFields,
  showMasterParams,
} from '../config/postconf_master';

const USAGE =
  'usage: postconf [-c config_dir] [-dfhHnx] [-o name=value] ' +
  '[-e | -X | -#] [-M | -F | -P] [-l] [-m] [name... | name=value...]';

const OPTIONS = {
  c: { type: 'string', short: 'c' },
  d: { type: 'boolean', short: 'd' },
  e: { type: 'boolean', short: 'e' },
  f: { type: 'boolean', short: 'f' },
  F: { type: 'boolean', short: 'F' },
  h: { type: 'boolean', short: 'h' },
  H: { type: 'boolean', short: 'H' },
  l: { type: 'boolean', short: 'l' },
  m: { type: 'boolean', short: 'm' },
  M: { type: 'boolean', short: 'M' },
  n: { type: 'boolean', short: 'n' },
  o: { type: 'string', short: 'o', multiple: true },
  p: { type: 'boolean', short: 'p' },
  P: { type: 'boolean', short: 'P' },
  q: { type: 'boolean', short: 'q' },
  v: { type: 'boolean', short: 'v', multiple: true },
  x: { type: 'boolean', short: 'x' },
  X: { type: 'boolean', short: 'X' },
  hash: { type: 'boolean', short: '#' },
} as const;

type Flags = ReturnType<typeof parseFlags>['values'];

// What the run is about, and what it does to it; one of each at most.
const TARGETS = ['M', 'F', 'P', 'l', 'm'] as const;
const ACTIONS = ['e', 'X', 'hash'] as const;
const ACTION_MODES = { e: 'set', X: 'remove', hash: 'comment' } as const;

function parseFlags(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  } catch {
    return msg.fatal(USAGE);
  }
}

function overrides(flags: Flags): Record<string, string> {
  const out: Record<string, string> = {};
  for (const setting of flags.o ?? []) {
    const eq = setting.indexOf('=');
    if (eq < 1) msg.fatal(`bad -o argument: "${setting}": need name=value`);
    out[setting.slice(0, eq).trim()] = setting.slice(eq + 1).trim();
  }
  return out;
}

function loadConfig(flags: Flags): Config {
  return Config.load({ configDir: flags.c, overrides: overrides(flags) });
}

function masterEntries(config: Config): MasterEntry[] {
  return loadMasterCf(config, (text) => msg.warn(text)).entries;
}

function print(lines: string[]): void {
  if (lines.length) process.stdout.write(lines.join('\n') + '\n');
}

function runEdit(flags: Flags, mode: EditMode, args: string[]): void {
  if (args.length === 0) msg.fatal(USAGE);
  if (mode === 'set')
    for (const arg of args)
      if (!arg.includes('=')) msg.fatal(`missing '=' in "${arg}"`);
  editParameters(resolveConfigDir(flags.c), mode, args);
}

function runMaster(flags: Flags, args: string[]): void {
  const entries = masterEntries(loadConfig(flags));
  const fieldOptions = { nameOnly: flags.H, valueOnly: flags.h };
  if (flags.M) print(showMasterEntries(entries, args, flags.f));
  else if (flags.F) print(showMasterFields(entries, args, fieldOptions));
  else print(showMasterParams(entries, args, fieldOptions));
}

function runShow(flags: Flags, args: string[]): void {
  const config = loadConfig(flags);
  const result = showParameters(config, args, {
    defaults: flags.d,
    setOnly: flags.n,
    expand: flags.x,
    nameOnly: flags.H,
    valueOnly: flags.h,
    fold: flags.f,
  });
  print(result.lines);
  const unused = flags.d ? [] : unusedWarnings(config);
  // -q keeps the listing clean for scripts, as Postfix's -q does.
  if (flags.q) return;
  for (const warning of [...unused, ...result.warnings]) msg.warn(warning);
}

// One of main.cf (the default), master.cf entries, fields or -o
// parameters, or a listing; and one of show or an edit.
function chosenTarget(flags: Flags): string {
  const given = TARGETS.filter((flag) => flags[flag]);
  if (given.length > 1) msg.fatal(USAGE);
  return given[0] ?? 'main';
}

function chosenAction(flags: Flags, args: string[]): EditMode | 'show' {
  const given = ACTIONS.filter((flag) => flags[flag]);
  if (given.length > 1) msg.fatal(USAGE);
  if (given[0]) return ACTION_MODES[given[0]];
  // "postconf name=value" edits as -e does.
  const assigns = args.length > 0 && args.every((arg) => arg.includes('='));
  return assigns && !flags.F && !flags.P && !flags.M ? 'set' : 'show';
}

function runMasterEdit(
  flags: Flags,
  target: MasterTarget,
  action: EditMode,
  args: string[],
): void {
  const edits = masterEdits(target, action, args);
  if (!edits || args.length === 0) return msg.fatal(USAGE);
  editMasterCf(resolveConfigDir(flags.c), edits);
}

function run(argv: string[]): void {
  const { values: flags, positionals: args } = parseFlags(argv);
  const target = chosenTarget(flags);
  const action = chosenAction(flags, args);
  if (target === 'm' || target === 'l') {
    if (action !== 'show') msg.fatal(USAGE);
    print(target === 'm' ? dictTypes() : [...LOCK_METHODS]);
  } else if (target === 'main') {
    if (action === 'show') runShow(flags, args);
    else runEdit(flags, action, args);
  } else if (action === 'show') runMaster(flags, args);
  else runMasterEdit(flags, target as MasterTarget, action, args);
}

function main(): void {
  initLog({ processName: 'postconf', stderr: 'postconf' });
  try {
    run(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) msg.fatal(err.message);
    throw err;
  }
}

main();
