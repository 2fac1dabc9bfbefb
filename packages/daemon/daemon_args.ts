// The options master gives every daemon, parsed getopt-style as Postfix's
// server skeletons do: -n service -t type -c dir -o name=value -v -u and
// -i max_idle -m max_use. What remains is the daemon's own arguments.

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

const WITH_VALUE = new Set(['n', 't', 'c', 'o', 'i', 'm', 's']);
const FLAGS = new Set(['v', 'u', 'z', 'l', 'd', 'S', 'D']);

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
  let i = 0;
  for (; i < argv.length; i++) {
    const word = argv[i];
    if (word === '--') {
      i++;
      break;
    }
    if (!word.startsWith('-') || word === '-') break;
    i = takeCluster(argv, i, out);
  }
  out.rest = argv.slice(i);
  return out;
}

// One getopt cluster such as "-vu" or "-oname=value" or "-o" "x=y".
function takeCluster(argv: string[], i: number, out: DaemonArgs): number {
  const word = argv[i];
  for (let j = 1; j < word.length; j++) {
    const flag = word[j];
    if (FLAGS.has(flag)) {
      if (flag === 'v') out.verbose++;
      if (flag === 'u') out.unpriv = true;
      continue;
    }
    if (!WITH_VALUE.has(flag))
      throw new DaemonArgsError(`invalid option -- '${flag}'`);
    let value = word.slice(j + 1);
    if (!value) {
      if (i + 1 >= argv.length)
        throw new DaemonArgsError(`option requires an argument -- '${flag}'`);
      value = argv[++i];
    }
    takeValue(flag, value, out);
    return i;
  }
  return i;
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
