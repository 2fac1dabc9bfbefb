// POSIX getopt(3) for our Postfix-style commands (postmap, postalias):
// bundled flags ("-fi"), option arguments attached or separate ("-qkey",
// "-q key", "-q -"), "--" ends options; as glibc's getopt, options may
// follow operands. Errors read as glibc's: "invalid option -- 'Z'".
// XXX belongs in packages/util, which the tables part does not own.

export class GetoptError extends Error {}

export interface Parsed {
  flags: Map<string, string[]>; // letter -> arguments ('' for plain flags)
  operands: string[];
}

// optstring as getopt's: letters, ":" after one that takes an argument.
export function getopt(argv: string[], optstring: string): Parsed {
  const flags = new Map<string, string[]>();
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') operands.push(arg);
    else i = parseCluster(argv, i, optstring, flags);
  }
  return { flags, operands };
}

function parseCluster(
  argv: string[],
  index: number,
  optstring: string,
  flags: Map<string, string[]>,
): number {
  const arg = argv[index];
  for (let j = 1; j < arg.length; j++) {
    const letter = arg[j];
    const at = optstring.indexOf(letter);
    if (at < 0 || letter === ':')
      throw new GetoptError(`invalid option -- '${letter}'`);
    if (optstring[at + 1] !== ':') {
      add(flags, letter, '');
      continue;
    }
    if (j + 1 < arg.length) {
      add(flags, letter, arg.slice(j + 1));
      return index;
    }
    if (index + 1 >= argv.length)
      throw new GetoptError(`option requires an argument -- '${letter}'`);
    add(flags, letter, argv[index + 1]);
    return index + 1;
  }
  return index;
}

function add(
  flags: Map<string, string[]>,
  letter: string,
  value: string,
): void {
  const list = flags.get(letter) ?? [];
  list.push(value);
  flags.set(letter, list);
}
