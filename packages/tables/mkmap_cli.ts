// The shared front end of postmap(1) and postalias(1): Postfix's flags
// (getopt style), the choice of operation, exit codes and messages.
// Exit 0 on success and found keys, 1 on "not found" (-q, -d) and on
// every fatal error, as Postfix 3.7 does (its usage error exits 1 too).
// XXX warnings go to standard error only, not also to maillog_file
// through postlog as Postfix's syslog copy would.
// XXX -m (MIME parsing for -h and -b) is not implemented: attachment
// headers are looked up as body lines.

import * as fs from 'node:fs';
import { Config, ConfigError } from '../config/config';
import { initLog, msg, setVerbose } from '../log/log';
import { getopt, GetoptError, optionMap } from '../util/getopt';

// The flags by letter (each with its values) and the operands.
interface Parsed {
  flags: Map<string, string[]>;
  operands: string[];
}
import {
  buildTable,
  deleteKey,
  listTable,
  MkmapError,
  messageKeys,
  MkmapOptions,
  Program,
  queryTables,
  tableRef,
  TableRef,
  updateTable,
} from './mkmap';

const OPTSTRING = 'bc:d:fFhimnNopq:rsuUvw';

const USAGE: Record<Program, string> = {
  postmap:
    'usage: postmap [-bfFhimnNoprsuUvw] [-c config_dir] [-d key] [-q key] [map_type:]file...',
  postalias:
    'usage: postalias [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] [map_type:]file...',
};

export async function runMkmap(
  program: Program,
  argv: string[],
): Promise<number> {
  initLog({
    processName: program,
    stderr: program,
    onFatal: () => void (process.exitCode = 1),
  });
  const parsed = parseFlags(program, argv);
  if (!parsed) return 1;
  try {
    return await runParsed(program, parsed);
  } catch (err) {
    if (err instanceof MkmapError || err instanceof ConfigError) {
      fatal(err.message);
      return 1;
    }
    throw err;
  }
}

function parseFlags(program: Program, argv: string[]): Parsed | undefined {
  try {
    const { options, operands } = getopt(argv, OPTSTRING, 'permute');
    return { flags: optionMap(options), operands };
  } catch (err) {
    if (!(err instanceof GetoptError)) throw err;
    process.stderr.write(`${program}: ${err.message}\n`);
    fatal(USAGE[program]);
    return undefined;
  }
}

// Fatal errors print "program: fatal: text"; onFatal (above) only sets
// the exit code, so that standard output is flushed before exit.
function fatal(text: string): void {
  process.exitCode = 1;
  try {
    msg.fatal(text);
  } catch {
    // FatalError after logging: the caller returns 1.
  }
}

async function runParsed(program: Program, parsed: Parsed): Promise<number> {
  const { flags } = parsed;
  if (flags.has('v')) setVerbose(flags.get('v')!.length);
  if (flags.has('m')) {
    fatal('-m (MIME parsing of header and body queries) is not supported');
    return 1;
  }
  if ((flags.has('b') || flags.has('h')) && flags.get('q')?.at(-1) !== '-') {
    fatal('specify -b -h or -m only with "-q -"');
    return 1;
  }
  const config = Config.load({ configDir: flags.get('c')?.at(-1) });
  const options = mkmapOptions(program, flags, config);
  const operands = defaultOperands(program, parsed.operands, config);
  if (operands === undefined) {
    fatal(USAGE[program]);
    return 1;
  }
  const refs = operands.map((arg) => tableRef(arg, config));
  return dispatch(flags, refs, options);
}

function mkmapOptions(
  program: Program,
  flags: Map<string, string[]>,
  config: Config,
): MkmapOptions {
  return {
    program,
    config,
    fold: !flags.has('f'),
    nul: flags.has('N') ? true : flags.has('n') ? false : undefined,
    duplicates: flags.has('r') ? 'replace' : flags.has('w') ? 'ignore' : 'warn',
    inheritMode: !flags.has('p'),
    keepRoot: flags.has('o'),
  };
}

// postalias with no file works on $alias_database; postmap needs one,
// except that -q, -d and -s without a file are usage errors too.
function defaultOperands(
  program: Program,
  operands: string[],
  config: Config,
): string[] | undefined {
  if (operands.length > 0) return operands;
  if (program !== 'postalias') return undefined;
  const list = config.list('alias_database');
  return list.length > 0 ? list : undefined;
}

async function dispatch(
  flags: Map<string, string[]>,
  refs: TableRef[],
  options: MkmapOptions,
): Promise<number> {
  const base64 = flags.has('F');
  if (flags.has('q'))
    return query(refs, flags.get('q')!.at(-1)!, options, flags);
  if (flags.has('d')) return remove(refs, flags.get('d')!, options);
  if (flags.has('s')) return list(refs, options, base64);
  if (flags.has('i')) {
    const input = fs.readFileSync(0, 'utf8');
    for (const ref of refs) await updateTable(ref, input, options);
    return 0;
  }
  for (const ref of refs) await buildTable(ref, options);
  return 0;
}

async function query(
  refs: TableRef[],
  key: string,
  options: MkmapOptions,
  flags: Map<string, string[]>,
): Promise<number> {
  const base64 = flags.has('F');
  if (key !== '-') {
    const value = await queryTables(refs, key, options);
    if (value === undefined) return 1;
    process.stdout.write(`${decode(value, base64)}\n`);
    return 0;
  }
  let found = false;
  for (const line of keysFromInput(flags)) {
    const value = await queryTables(refs, line, options);
    if (value === undefined) continue;
    found = true;
    process.stdout.write(`${line}\t${decode(value, base64)}\n`);
  }
  return found ? 0 : 1;
}

// With -h or -b the input is a message; else one key per line.
function keysFromInput(flags: Map<string, string[]>): string[] {
  if (!flags.has('h') && !flags.has('b')) return readKeys();
  const text = fs.readFileSync(0, 'utf8');
  return messageKeys(text, flags.has('h'), flags.has('b'));
}

// -q - and -d - read one key per line; the key is the first word.
function readKeys(): string[] {
  return fs
    .readFileSync(0, 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0])
    .filter((key) => key !== '' && !key.startsWith('#'));
}

async function remove(
  refs: TableRef[],
  keys: string[],
  options: MkmapOptions,
): Promise<number> {
  const wanted = keys.flatMap((key) => (key === '-' ? readKeys() : [key]));
  return (await deleteKey(refs, wanted, options)) ? 0 : 1;
}

function list(
  refs: TableRef[],
  options: MkmapOptions,
  base64: boolean,
): number {
  for (const ref of refs)
    for (const line of listTable(ref, options)) {
      const tab = line.indexOf('\t');
      process.stdout.write(
        `${line.slice(0, tab + 1)}${decode(line.slice(tab + 1), base64)}\n`,
      );
    }
  return 0;
}

// -F: values are base64 (tls_server_sni_maps), shown decoded.
function decode(value: string, base64: boolean): string {
  return base64 ? Buffer.from(value, 'base64').toString('utf8') : value;
}
