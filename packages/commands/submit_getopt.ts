// POSIX getopt(3) for sendmail and the queue commands: option letters
// bundle (-ti), an argument may be attached (-fsender@x, -oi) or the
// next word, and the first non-option or "--" ends the options, as
// Postfix's GETOPT with a leading "+" on Linux. Limits: no long options.

export class GetoptError extends Error {}

export interface ParsedOptions {
  options: Array<{ name: string; value: string }>;
  operands: string[];
}

// spec is getopt's string: "tf:v" means -t and -v flags, -f takes a value.
function takesValue(spec: string, letter: string): boolean | undefined {
  const at = spec.indexOf(letter);
  if (at < 0 || letter === ':') return undefined;
  return spec[at + 1] === ':';
}

export function getopt(argv: string[], spec: string): ParsedOptions {
  const options: ParsedOptions['options'] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const word = argv[i];
    if (word === '--') {
      i++;
      break;
    }
    if (!word.startsWith('-') || word === '-') break;
    i = parseWord(argv, i, spec, options);
  }
  return { options, operands: argv.slice(i) };
}

// One "-abc" word; returns the index of the last word it used.
function parseWord(
  argv: string[],
  i: number,
  spec: string,
  out: ParsedOptions['options'],
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
