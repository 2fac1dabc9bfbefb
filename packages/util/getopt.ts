// POSIX getopt(3), the one parser of our getopt-style commands and of
// the daemon skeleton: bundled flags (-ti), a value attached (-fsender@x,
// -oi) or the next word, "--" ends the options. In 'posix' mode the first
// operand ends them too (sendmail, the queue commands, the daemons, as
// Postfix's "+" GETOPT on Linux); in 'permute' mode options may follow
// operands, as glibc's default (postmap, postalias). Errors read as
// glibc's: "invalid option -- 'Z'". Limits: no long options.

export class GetoptError extends Error {}

export interface GetoptOption {
  name: string;
  value: string; // '' for a flag
}

export interface GetoptResult {
  options: GetoptOption[]; // in command-line order
  operands: string[];
}

export type GetoptMode = 'posix' | 'permute';

// spec is getopt's string: "tf:v" means -t and -v flags, -f takes a value.
export function getopt(
  argv: string[],
  spec: string,
  mode: GetoptMode = 'posix',
): GetoptResult {
  const options: GetoptOption[] = [];
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (word.startsWith('-') && word !== '-') {
      i = parseWord(argv, i, spec, options);
      continue;
    }
    if (mode === 'posix') {
      operands.push(...argv.slice(i));
      break;
    }
    operands.push(word);
  }
  return { options, operands };
}

// The options by letter, each with its values in order.
export function optionMap(options: GetoptOption[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const { name, value } of options)
    map.set(name, [...(map.get(name) ?? []), value]);
  return map;
}

function takesValue(spec: string, letter: string): boolean | undefined {
  const at = spec.indexOf(letter);
  if (at < 0 || letter === ':') return undefined;
  return spec[at + 1] === ':';
}

// One "-abc" word; returns the index of the last word it used.
function parseWord(
  argv: string[],
  i: number,
  spec: string,
  out: GetoptOption[],
): number {
  const word = argv[i];
  for (let p = 1; p < word.length; p++) {
    const letter = word[p];
    const wants = takesValue(spec, letter);
    if (wants === undefined)
      throw new GetoptError(`invalid option -- '${letter}'`);
    if (!wants) {
      out.push({ name: letter, value: '' });
      continue;
    }
    if (p + 1 < word.length) {
      out.push({ name: letter, value: word.slice(p + 1) });
      return i;
    }
    if (i + 1 >= argv.length)
      throw new GetoptError(`option requires an argument -- '${letter}'`);
    out.push({ name: letter, value: argv[i + 1] });
    return i + 1;
  }
  return i;
}
