// Splitting of table specifications: "type:name" and the brace-aware
// lists that parameters, inline:{...} and unionmap:{...} hold. Used by
// dict.ts, the table types that nest others, and address match lists.
// Known limit: a "{" inside a name must be balanced, as in Postfix.

export class DictSyntaxError extends Error {}

export interface DictSpec {
  type: string;
  name: string;
}

// Postfix's "type:name": the type is a word, the name the rest. A bare
// "/path" or word has no type; callers decide what that means.
export function parseDictSpec(spec: string): DictSpec | undefined {
  const match = /^([A-Za-z0-9_-]+):([\s\S]*)$/.exec(spec.trim());
  if (!match) return undefined;
  return { type: match[1].toLowerCase(), name: match[2] };
}

// Split on commas and white space, keeping "{...}" groups whole, as
// Postfix's mystrtokq does for parameter values.
export function splitTableList(text: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (depth === 0 && /[\s,]/.test(ch)) {
      if (current) items.push(current);
      current = '';
      continue;
    }
    if (ch === '{') depth++;
    else if (ch === '}' && depth > 0) depth--;
    current += ch;
  }
  if (depth > 0) throw new DictSyntaxError(`missing '}' in "${text.trim()}"`);
  if (current) items.push(current);
  return items;
}

// "{ text }" becomes "text"; anything else is returned trimmed.
export function stripBraces(text: string): string {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{')) return trimmed;
  if (!trimmed.endsWith('}'))
    throw new DictSyntaxError(`missing '}' in "${trimmed}"`);
  return trimmed.slice(1, -1).trim();
}

// The elements of "{ a, {b c}, d }" with their own braces removed.
export function splitBracedList(text: string): string[] {
  return splitTableList(stripBraces(text)).map((item) =>
    item.startsWith('{') ? stripBraces(item) : item,
  );
}
