// Writing indexed tables for postmap and postalias: a TableBuild collects
// entries (a fresh table) or changes (postmap -i, -d) in memory and
// writes them in one step at commit(): a new file renamed into place, or
// one lmdb transaction. Either way a crash leaves the old table whole.

import * as fs from 'node:fs';
import type {
  IndexedReader,
  IndexedType,
  TableChanges,
  WriterOptions,
} from './dict_indexed';
import { openReader } from './dict_indexed';
import { DictError } from './dict';

export type BuildMode = 'create' | 'update';

export class TableBuild {
  readonly file: string;
  readonly kind: IndexedType;
  #mode: BuildMode;
  #options: WriterOptions;
  #entries = new Map<string, string>();
  #changes: TableChanges = new Map();
  #base: IndexedReader | undefined;

  constructor(
    kind: IndexedType,
    name: string,
    mode: BuildMode,
    options: WriterOptions,
  ) {
    this.kind = kind;
    this.file = name + kind.suffix;
    this.#mode = mode;
    this.#options = options;
    if (mode === 'update') this.#base = this.#openBase();
  }

  // cdb cannot change in place: its updates rebuild from the old entries.
  #openBase(): IndexedReader {
    const base = openReader(this.kind, this.file);
    if (!this.kind.apply)
      for (const [key, value] of base.entries()) this.#entries.set(key, value);
    return base;
  }

  get(key: string): string | undefined {
    if (this.#changes.has(key)) return this.#changes.get(key) ?? undefined;
    if (this.#entries.has(key)) return this.#entries.get(key);
    return this.kind.apply ? this.#base?.get(key) : undefined;
  }

  put(key: string, value: string): void {
    if (this.#usesChanges()) this.#changes.set(key, value);
    else this.#entries.set(key, value);
  }

  remove(key: string): boolean {
    const found = this.get(key) !== undefined;
    if (this.#usesChanges()) this.#changes.set(key, null);
    else this.#entries.delete(key);
    return found;
  }

  #usesChanges(): boolean {
    return this.#mode === 'update' && this.kind.apply !== undefined;
  }

  async commit(): Promise<void> {
    this.#base?.close();
    this.#base = undefined;
    if (this.#usesChanges())
      await this.kind.apply!(this.file, this.#changes, this.#options);
    else await this.kind.build(this.file, this.#entries, this.#options);
  }

  abort(): void {
    this.#base?.close();
    this.#base = undefined;
  }
}

// The permissions a new table gets: those of its source file, as
// postmap gives the result "the same group and other read permissions".
export function sourceMode(source: string): number | undefined {
  try {
    return fs.statSync(source).mode & 0o777;
  } catch {
    return undefined;
  }
}

export function requireIndexed(
  kind: IndexedType | undefined,
  type: string,
): IndexedType {
  if (!kind)
    throw new DictError(
      `unsupported dictionary type for this operation: ${type}`,
    );
  return kind;
}
