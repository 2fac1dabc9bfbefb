// Reading and editing main.cf as Postfix does: "name = value" logical
// lines, continuation lines that start with white space, '#' comment
// lines, last definition wins. Config reads it; postconf -e/-X/-# edit it
// in place, keeping comments and the order of the other lines.

import * as fs from 'node:fs';
import * as path from 'node:path';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface Definition {
  value: string;
  line: number; // first physical line of the logical line, from 1
}

// One logical line: physical lines [start, end), zero-based.
export interface LogicalLine {
  start: number;
  end: number;
  text: string; // joined, without the line ends
}

const COMMENT_OR_BLANK = /^\s*(#|$)/;

export function logicalLines(lines: string[]): LogicalLine[] {
  const out: LogicalLine[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (COMMENT_OR_BLANK.test(line)) continue;
    const last = out[out.length - 1];
    // A line that starts with white space continues the previous one.
    if (/^\s/.test(line) && last) {
      last.text += ' ' + line.trim();
      last.end = i + 1;
    } else out.push({ start: i, end: i + 1, text: line.trim() });
  }
  return out;
}

// Postfix's split_nameval(): "name = value", white space trimmed.
export function splitNameValue(
  text: string,
  where: string,
): { name: string; value: string } {
  const eq = text.indexOf('=');
  if (eq < 0)
    throw new ConfigError(
      `${where}: missing '=' after attribute name: "${text}"`,
    );
  const name = text.slice(0, eq).trim();
  if (name === '')
    throw new ConfigError(`${where}: missing attribute name: "${text}"`);
  return { name, value: text.slice(eq + 1).trim() };
}

export function splitPhysical(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((line) => line.replace(/\r$/, ''));
}

export function parseMainCf(
  text: string,
  file: string,
): Map<string, Definition> {
  const defs = new Map<string, Definition>();
  for (const logical of logicalLines(splitPhysical(text))) {
    const where = `${file}, line ${logical.start + 1}`;
    const { name, value } = splitNameValue(logical.text, where);
    // Delete first so that iteration order is that of the winning line.
    defs.delete(name);
    defs.set(name, { value, line: logical.start + 1 });
  }
  return defs;
}

export function readMainCf(configDir: string): {
  file: string;
  defs: Map<string, Definition>;
} {
  const file = path.join(configDir, 'main.cf');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`open ${file}: ${describeError(err)}`);
  }
  return { file, defs: parseMainCf(text, file) };
}

export function describeError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'No such file or directory';
  if (code === 'EACCES') return 'Permission denied';
  return (err as Error).message;
}

// What postconf asks of an edit: new values (-e), removal (-X) or
// commenting out (-#), by parameter name.
export type MainCfEdit =
  { kind: 'set'; value: string } | { kind: 'remove' } | { kind: 'comment' };

// The first definition of a name takes the new value and later ones go,
// so that the result has one definition; names not found are appended.
export function editMainCfText(
  text: string,
  edits: Map<string, MainCfEdit>,
): string {
  const lines = splitPhysical(text);
  const done = new Set<string>();
  const replaced = new Map<number, string[]>();
  for (const logical of logicalLines(lines)) {
    const eq = logical.text.indexOf('=');
    const name = eq < 0 ? '' : logical.text.slice(0, eq).trim();
    const edit = edits.get(name);
    if (!edit) continue;
    const original = lines.slice(logical.start, logical.end);
    replaced.set(logical.start, editedLines(name, edit, original, done));
    for (let i = logical.start + 1; i < logical.end; i++) replaced.set(i, []);
    done.add(name);
  }
  const out = lines.flatMap((line, i) => replaced.get(i) ?? [line]);
  for (const [name, edit] of edits)
    if (edit.kind === 'set' && !done.has(name))
      out.push(`${name} = ${edit.value}`);
  return out.length ? out.join('\n') + '\n' : '';
}

function editedLines(
  name: string,
  edit: MainCfEdit,
  original: string[],
  done: Set<string>,
): string[] {
  if (edit.kind === 'comment') return original.map((line) => '#' + line);
  if (edit.kind === 'remove' || done.has(name)) return [];
  return [`${name} = ${edit.value}`];
}

// Replace a file so that a crash leaves either the old or the new text.
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w', existingMode(file));
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

function existingMode(file: string): number {
  try {
    return fs.statSync(file).mode & 0o7777;
  } catch {
    return 0o644;
  }
}
