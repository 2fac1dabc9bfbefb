// Reads the smtp/lmtp parameters of packages/config/params_smtp.ts even
// while params.ts does not yet join that file into the catalog: a name
// the catalog lacks is taken from main.cf or its default here, with
// $name expanded through the configuration.

import type { Config } from '../../packages/config/config';
import { parseTime } from '../../packages/config/values';
import { PARAMS } from '../../packages/config/params_smtp';

const OURS = new Map(PARAMS.map((d) => [d.name, d]));

// XXX remove once params.ts imports params_smtp.ts: this expansion knows
// only $name and ${name}, not Postfix's ${name?value} forms.
export function smtpParam(config: Config, name: string): string {
  if (config.catalog.has(name) || !OURS.has(name)) return config.get(name);
  const text = config.raw(name) ?? String(OURS.get(name)!.default);
  return text.replace(/\$(?:\{(\w+)\}|(\w+))/g, (_, a, b) =>
    smtpParam(config, a ?? b),
  );
}

export function smtpTime(config: Config, name: string): number {
  if (config.catalog.has(name)) return config.time(name);
  return parseTime(name, smtpParam(config, name), 's');
}

export function smtpList(config: Config, name: string): string[] {
  return smtpParam(config, name)
    .split(/[\s,]+/)
    .filter(Boolean);
}

export function smtpBool(config: Config, name: string): boolean {
  if (config.catalog.has(name)) return config.bool(name);
  return /^(yes|true|1)$/i.test(smtpParam(config, name).trim());
}
