// Conversion of expanded main.cf text to typed values, with Postfix's
// wording for bad values (mail_conf_int.c, mail_conf_bool.c, ...). Used by
// Config's typed getters; callers add the "file, line N: " prefix.

import { TIME_UNITS, TimeUnit } from './param_def';

export class ValueError extends Error {}

const INT_PATTERN = /^[+-]?\d+$/;
const TIME_PATTERN = /^(\d+)([a-z]?)$/;

export function parseInt10(name: string, text: string): number {
  if (!INT_PATTERN.test(text))
    throw new ValueError(`bad numerical configuration: ${name} = ${text}`);
  return Number(text);
}

export function parseBool(name: string, text: string): boolean {
  const lower = text.toLowerCase();
  if (lower === 'yes') return true;
  if (lower === 'no') return false;
  throw new ValueError(`bad boolean configuration: ${name} = ${text}`);
}

// A number with an optional one-letter unit; Postfix takes no sums such
// as "1h30m" either.
export function parseTime(
  name: string,
  text: string,
  unit: TimeUnit = 's',
): number {
  const match = TIME_PATTERN.exec(text);
  const suffix = (match?.[2] || unit) as string;
  if (!match || !(suffix in TIME_UNITS))
    throw new ValueError(`parameter ${name}: bad time value or unit: ${text}`);
  return Number(match[1]) * TIME_UNITS[suffix as TimeUnit];
}

// As Postfix, a bound of 0 means none; times word it differently.
export function checkBounds(
  name: string,
  value: number,
  min?: number,
  max?: number,
): void {
  if (min && value < min)
    throw new ValueError(`invalid ${name} parameter value ${value} < ${min}`);
  if (max && value > max)
    throw new ValueError(`invalid ${name} parameter value ${value} > ${max}`);
}

export function checkTimeBounds(
  name: string,
  seconds: number,
  min?: number,
  max?: number,
): void {
  if (min && seconds < min)
    throw new ValueError(`invalid ${name}: ${seconds} (min ${min})`);
  if (max && seconds > max)
    throw new ValueError(`invalid ${name}: ${seconds} (max ${max})`);
}

// Split on comma and white space, keeping {...} groups whole, as
// Postfix's list parameters (mystrtokq with "{}" quotes) do.
export function splitList(text: string): string[] {
  const items: string[] = [];
  let current = '';
  let depth = 0;
  for (const ch of text) {
    if (ch === '{') depth++;
    else if (ch === '}' && depth > 0) depth--;
    if (depth === 0 && /[\s,]/.test(ch)) {
      if (current) items.push(current);
      current = '';
    } else current += ch;
  }
  if (current) items.push(current);
  return items;
}
