// The whole-configuration check behind "postfix check" and master's
// start: main.cf values against the catalog, master.cf entries and their
// commands, and the unused-parameter warnings that need both files.
// Throws ConfigError on the first error, as Postfix stops on the first.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Config, ConfigError, perTransportNames } from './config';
import { referencedNames } from './expand';
import { checkCommands, MasterEntry, readMasterCf } from './master_cf';

export interface MasterLoad {
  file: string;
  entries: MasterEntry[];
}

// master.cf as master runs it: '-' maxproc from default_process_limit.
export function loadMasterCf(
  config: Config,
  warn?: (text: string) => void,
): MasterLoad {
  return readMasterCf(config.configDir, {
    defaultProcessLimit: config.int('default_process_limit'),
    warn,
  });
}

// Names that master.cf makes known to main.cf: -o names, $names used in
// -o values, and per-transport parameters of its services.
export function masterKnownNames(entries: MasterEntry[]): string[] {
  const names = perTransportNames(entries.map((entry) => entry.name));
  for (const entry of entries)
    for (const [name, value] of Object.entries(entry.overrides))
      names.push(name, ...referencedNames(value));
  return names;
}

// Returns the warnings (without "warning: ") when nothing is fatal.
export function checkConfig(config: Config): string[] {
  const warnings: string[] = [];
  const master = loadMasterCf(config, (text) => warnings.push(text));
  checkCommands(master.entries, config.get('daemon_directory'), master.file);
  for (const entry of master.entries) {
    checkOverrides(config, entry, master.file);
    warnings.push(...unusedOverrides(config, entry, master.file));
  }
  warnings.push(...config.validate(masterKnownNames(master.entries)));
  return warnings;
}

// A bad -o value is reported at its master.cf line.
function checkOverrides(config: Config, entry: MasterEntry, file: string) {
  const service = config.withOverrides(entry.overrides, entry.name);
  try {
    service.checkParameters(Object.keys(entry.overrides));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError(`${file}, line ${entry.line}: ${err.message}`);
  }
}

function unusedOverrides(
  config: Config,
  entry: MasterEntry,
  file: string,
): string[] {
  return Object.entries(entry.overrides)
    .filter(([name]) => !config.catalog.has(name))
    .filter(([name]) => config.raw(name) === undefined)
    .map(([name, value]) => `${file}: unused parameter: ${name}=${value}`);
}

// The unused-parameter warnings for postconf, which must not fail when
// master.cf is absent.
export function unusedWarnings(config: Config): string[] {
  const file = path.join(config.configDir, 'master.cf');
  const known = fs.existsSync(file)
    ? masterKnownNames(loadMasterCf(config).entries)
    : [];
  return config.unusedParameters(known);
}
