// Postfix's $name expansion (postconf(5) intro): $name, ${name}, $(name),
// $$, ${name?value}, ${name:value}, ${name?{a}:{b}} and the relational
// ${{a} op {b} ? {x} : {y}}. The caller's lookup does the recursion and
// loop detection. Limits: no ${name{function}} forms (Postfix 3.11).

export class ExpandError extends Error {}

// The expanded value of a parameter, or undefined when it has none.
export type Lookup = (name: string) => string | undefined;

const NAME_PATTERN = /^[A-Za-z0-9_]+/;
const NUMBER_PATTERN = /^\d+$/;

export function expand(text: string, lookup: Lookup): string {
  return new Expander(text, lookup).run();
}

// Names referenced by $name forms in text, for the unused-parameter check.
export function referencedNames(text: string): string[] {
  const names: string[] = [];
  const pattern = /\$(?:\{|\()?([A-Za-z0-9_]+)/g;
  for (const match of text.matchAll(pattern)) names.push(match[1]);
  return names;
}

class Expander {
  #text: string;
  #pos = 0;
  #lookup: Lookup;

  constructor(text: string, lookup: Lookup) {
    this.#text = text;
    this.#lookup = lookup;
  }

  run(): string {
    let out = '';
    while (this.#pos < this.#text.length) {
      const at = this.#text.indexOf('$', this.#pos);
      if (at < 0) {
        out += this.#text.slice(this.#pos);
        break;
      }
      out += this.#text.slice(this.#pos, at);
      this.#pos = at + 1;
      out += this.#dollar();
    }
    return out;
  }

  #dollar(): string {
    const ch = this.#text[this.#pos];
    if (ch === '$') {
      this.#pos++;
      return '$';
    }
    if (ch === '{' || ch === '(') return this.#braced(ch);
    const match = NAME_PATTERN.exec(this.#text.slice(this.#pos));
    // A '$' before something that is no name stays as it is.
    if (!match) return '$';
    this.#pos += match[0].length;
    return this.#lookup(match[0]) ?? '';
  }

  #braced(open: string): string {
    const end = findClose(this.#text, this.#pos);
    if (end < 0)
      throw new ExpandError(
        `missing '${open === '{' ? '}' : ')'}' in "${this.#text}"`,
      );
    const inner = this.#text.slice(this.#pos + 1, end);
    this.#pos = end + 1;
    if (open === '{' && inner.trimStart().startsWith('{'))
      return this.#relational(inner);
    return this.#named(inner);
  }

  #named(inner: string): string {
    const match = NAME_PATTERN.exec(inner);
    if (!match) throw new ExpandError(`bad macro name: "${inner}"`);
    const value = this.#lookup(match[0]) ?? '';
    const rest = inner.slice(match[0].length);
    if (rest === '') return value;
    if (rest[0] === '?') return this.#choose(value !== '', rest.slice(1));
    if (rest[0] === ':')
      return value !== '' ? value : this.#sub(unbrace(rest.slice(1)));
    throw new ExpandError(`bad macro syntax: "\${${inner}}"`);
  }

  // "{a}:{b}", "{a}" or plain "a" after the '?' of ${name?...}.
  #choose(truthy: boolean, text: string): string {
    const parts = splitAlternatives(text);
    return this.#sub(truthy ? parts.then : parts.otherwise);
  }

  #relational(inner: string): string {
    const cursor = new GroupCursor(inner);
    const left = this.#sub(cursor.group());
    const op = cursor.operator();
    const right = this.#sub(cursor.group());
    const parts = splitAlternatives(cursor.rest().replace(/^\?/, ''));
    const truthy = compare(left, op, right);
    return this.#sub(truthy ? parts.then : parts.otherwise);
  }

  #sub(text: string): string {
    return expand(text, this.#lookup);
  }
}

// Index of the bracket that closes the one at text[open], or -1.
function findClose(text: string, open: number): number {
  const opener = text[open];
  const closer = opener === '{' ? '}' : ')';
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === opener) depth++;
    else if (text[i] === closer && --depth === 0) return i;
  }
  return -1;
}

function unbrace(text: string): string {
  const trimmed = text.trim();
  if (trimmed.startsWith('{') && findClose(trimmed, 0) === trimmed.length - 1)
    return trimmed.slice(1, -1).trim();
  return text;
}

function splitAlternatives(text: string): { then: string; otherwise: string } {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{')) return { then: text, otherwise: '' };
  const end = findClose(trimmed, 0);
  if (end < 0) throw new ExpandError(`missing '}' in "${text}"`);
  const after = trimmed.slice(end + 1).trim();
  if (after !== '' && !after.startsWith(':'))
    throw new ExpandError(`bad macro syntax: "${text}"`);
  return {
    then: trimmed.slice(1, end).trim(),
    otherwise: after ? unbrace(after.slice(1)) : '',
  };
}

// Walks "{a} op {b} ? ..." one piece at a time.
class GroupCursor {
  #text: string;
  #pos = 0;

  constructor(text: string) {
    this.#text = text;
  }

  group(): string {
    this.#skipSpace();
    const end = findClose(this.#text, this.#pos);
    if (this.#text[this.#pos] !== '{' || end < 0)
      throw new ExpandError(`bad relational expression: "${this.#text}"`);
    const inside = this.#text.slice(this.#pos + 1, end).trim();
    this.#pos = end + 1;
    return inside;
  }

  operator(): string {
    this.#skipSpace();
    const match = /^[^\s{]+/.exec(this.#text.slice(this.#pos));
    if (!match) throw new ExpandError(`missing operator in "${this.#text}"`);
    this.#pos += match[0].length;
    return match[0];
  }

  rest(): string {
    return this.#text.slice(this.#pos).trim();
  }

  #skipSpace(): void {
    while (/\s/.test(this.#text[this.#pos] ?? '')) this.#pos++;
  }
}

const COMPARE = {
  '==': (c: number) => c === 0,
  '!=': (c: number) => c !== 0,
  '<': (c: number) => c < 0,
  '<=': (c: number) => c <= 0,
  '>': (c: number) => c > 0,
  '>=': (c: number) => c >= 0,
} as const;

type CompareOp = keyof typeof COMPARE;

export function compare(left: string, op: string, right: string): boolean {
  const level = op.endsWith('level');
  const base = (level ? op.slice(0, -'level'.length) : op) as CompareOp;
  if (!(base in COMPARE)) throw new ExpandError(`unknown operator: "${op}"`);
  const order = level ? compareLevels(left, right) : compareValues(left, right);
  return COMPARE[base](order);
}

function compareValues(left: string, right: string): number {
  if (NUMBER_PATTERN.test(left) && NUMBER_PATTERN.test(right))
    return Math.sign(Number(left) - Number(right));
  return left < right ? -1 : left > right ? 1 : 0;
}

// compatibility_level values: "2", "3.6", "3.6.1"; missing parts are 0.
export function compareLevels(left: string, right: string): number {
  const a = left.split('.').map(Number);
  const b = right.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (a[i] || 0) - (b[i] || 0);
    if (diff !== 0) return Math.sign(diff);
  }
  return 0;
}
