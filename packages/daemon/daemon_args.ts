// The options master gives every daemon, parsed getopt-style as Postfix's
// server skeletons do: -n service -t type -c dir -o name=value -v -u and
// -i max_idle -m max_use. What remains is the daemon's own arguments.

import { getopt, GetoptError } from '../util/getopt';

export interface DaemonArgs {
  serviceName: string;
  serviceType: string;
  processName: string;
  configDir?: string;
  overrides: Record<string, string>;
  verbose: number;
  unpriv: boolean;
  maxIdle?: number;
  maxUse?: number;
  rest: string[];
}

// Postfix's skeleton options: -n -t -c -o -i -m -s take a value.
const SPEC = 'n:t:c:o:i:m:s:vuzldSD';

export class DaemonArgsError extends Error {}

export function parseDaemonArgs(argv: string[], name: string): DaemonArgs {
  const out: DaemonArgs = {
    serviceName: name,
    serviceType: 'unix',
    processName: name,
    overrides: {},
    verbose: 0,
    unpriv: false,
    rest: [],
  };
  let parsed;
  try {
    parsed = getopt(argv, SPEC);
  } catch (err) {
    if (err instanceof GetoptError) throw new DaemonArgsError(err.message);
    throw err;
  }
  for (const { name: flag, value } of parsed.options) {
    if (flag === 'v') out.verbose++;
    else if (flag === 'u') out.unpriv = true;
    else takeValue(flag, value, out);
  }
  out.rest = parsed.operands;
  return out;
}

function takeValue(flag: string, value: string, out: DaemonArgs): void {
  switch (flag) {
    case 'n':
      out.serviceName = value;
      break;
    case 't':
      out.serviceType = value;
      break;
    case 'c':
      out.configDir = value;
      break;
    case 'o': {
      const eq = value.indexOf('=');
      if (eq <= 0) throw new DaemonArgsError(`bad -o argument: ${value}`);
      out.overrides[value.slice(0, eq).trim()] = value.slice(eq + 1).trim();
      break;
    }
    case 'i':
      out.maxIdle = Number(value);
      break;
    case 'm':
      out.maxUse = Number(value);
      break;
  }
}
