// The configuration API every part uses: main.cf plus master.cf -o
// overrides, expanded lazily and recursively at use, typed by the catalog
// (params.ts) with Postfix's error wording. Config.load is synchronous.
// Limits: the file is read once; reload means a new Config.

import * as path from 'node:path';
import { msg } from '../log/log';
import { expand, ExpandError, referencedNames } from './expand';
import { ConfigError, Definition, describeError, readMainCf } from './main_cf';
import { DefaultContext, ParamDef } from './param_def';
import { CATALOG } from './params';
import {
  checkBounds,
  checkTimeBounds,
  parseBool,
  parseInt10,
  parseTime,
  splitList,
  ValueError,
} from './values';

export { ConfigError } from './main_cf';
export type { ParamDef } from './param_def';

export const DEFAULT_CONFIG_DIR = '/etc/postfix';

// Parameters that exist once per master.cf transport, named
// <transport><suffix> (relay_destination_concurrency_limit): main.cf may
// set them for any service without an unused-parameter warning.
export const PER_TRANSPORT_SUFFIXES = [
  '_delivery_slot_cost',
  '_delivery_slot_discount',
  '_delivery_slot_loan',
  '_destination_concurrency_failed_cohort_limit',
  '_destination_concurrency_limit',
  '_destination_concurrency_negative_feedback',
  '_destination_concurrency_positive_feedback',
  '_destination_rate_delay',
  '_destination_recipient_limit',
  '_extra_recipient_limit',
  '_initial_destination_concurrency',
  '_minimum_delivery_slots',
  '_recipient_limit',
  '_recipient_refill_delay',
  '_recipient_refill_limit',
  '_time_limit',
  '_transport_rate_delay',
] as const;

export function perTransportNames(services: Iterable<string>): string[] {
  const names: string[] = [];
  for (const service of services)
    for (const suffix of PER_TRANSPORT_SUFFIXES) names.push(service + suffix);
  return names;
}

// Postfix's mac_expand gives up at this depth; we name the loop instead.
const MAX_NESTING = 100;

export interface LoadOptions {
  configDir?: string; // -c; else MAIL_CONFIG; else /etc/postfix
  overrides?: Record<string, string>; // master.cf -o name=value
  processName?: string; // $process_name; default: the script's name
  serviceName?: string; // $service_name; default: the process name
  catalog?: ReadonlyMap<string, ParamDef>; // params.ts unless a test says
}

// -c dir wins over MAIL_CONFIG, which wins over the built-in directory.
export function resolveConfigDir(dir?: string): string {
  return path.resolve(dir || process.env.MAIL_CONFIG || DEFAULT_CONFIG_DIR);
}

function strictMode(): boolean {
  return process.env.POSTFIX_TS_STRICT === '1';
}

export class Config {
  readonly configDir: string;
  readonly mainCfPath: string;
  #defs: Map<string, Definition>;
  #overrides: Map<string, string>;
  #builtins: Map<string, string>;
  #cache = new Map<string, string>();
  #warned = new Set<string>();
  #catalog: ReadonlyMap<string, ParamDef>;

  private constructor(
    configDir: string,
    mainCfPath: string,
    defs: Map<string, Definition>,
    options: LoadOptions,
  ) {
    this.configDir = configDir;
    this.mainCfPath = mainCfPath;
    this.#defs = defs;
    this.#overrides = new Map(Object.entries(options.overrides ?? {}));
    this.#builtins = builtinValues(configDir, options);
    this.#catalog = options.catalog ?? CATALOG;
  }

  get catalog(): ReadonlyMap<string, ParamDef> {
    return this.#catalog;
  }

  static load(options: LoadOptions = {}): Config {
    const configDir = resolveConfigDir(options.configDir);
    const { file, defs } = readMainCf(configDir);
    return new Config(configDir, file, defs, options);
  }

  // The unexpanded value, undefined when neither main.cf nor -o sets it.
  raw(name: string): string | undefined {
    return (
      this.#builtins.get(name) ??
      this.#overrides.get(name) ??
      this.#defs.get(name)?.value
    );
  }

  // Where main.cf defines a name, for postconf and error messages.
  definition(name: string): Definition | undefined {
    return this.#defs.get(name);
  }

  // Names set in main.cf, in the order of their winning lines.
  mainCfNames(): string[] {
    return [...this.#defs.keys()];
  }

  overrideNames(): string[] {
    return [...this.#overrides.keys()];
  }

  get(name: string): string {
    if (!this.#catalog.has(name)) return this.#unknown(name);
    return this.#expanded(name, []);
  }

  int(name: string): number {
    return this.#typed(name, (text) => parseInt10(name, text));
  }

  size(name: string): number {
    return this.#typed(name, (text) => parseInt10(name, text));
  }

  time(name: string): number {
    const def = this.#catalog.get(name);
    const text = this.get(name);
    return this.#guard(name, () => {
      const seconds = parseTime(name, text, def?.unit ?? 's');
      checkTimeBounds(name, seconds, def?.min, def?.max);
      return seconds;
    });
  }

  bool(name: string): boolean {
    const text = this.get(name);
    return this.#guard(name, () => parseBool(name, text));
  }

  list(name: string): string[] {
    return splitList(this.get(name));
  }

  // The catalog default, expanded against this configuration.
  defaultValue(def: ParamDef): string {
    if (typeof def.default === 'string') return def.default;
    return def.default(this.#defaultContext());
  }

  // Checks every parameter that main.cf or -o sets against its catalog
  // type and bounds (throws ConfigError) and returns Postfix's warnings
  // for names nothing knows, without the "warning: " prefix.
  validate(extraKnown: Iterable<string> = []): string[] {
    this.checkParameters([...this.#defs.keys(), ...this.#overrides.keys()]);
    return this.unusedParameters(extraKnown);
  }

  // Converts each named catalog parameter as its type says, so that a
  // bad value is found now and not when a daemon first reads it.
  checkParameters(names: Iterable<string>): void {
    for (const name of names) {
      const def = this.#catalog.get(name);
      if (def) this.#check(def);
    }
  }

  // The same main.cf with other -o overrides, as one master.cf service
  // sees it; nothing is read again.
  withOverrides(
    overrides: Record<string, string>,
    serviceName?: string,
  ): Config {
    return new Config(this.configDir, this.mainCfPath, this.#defs, {
      overrides,
      catalog: this.#catalog,
      processName: this.#builtins.get('process_name'),
      serviceName: serviceName ?? this.#builtins.get('service_name'),
    });
  }

  // Built-in defaults only, for postconf -d -x.
  withoutMainCf(): Config {
    return new Config(this.configDir, this.mainCfPath, new Map(), {
      catalog: this.#catalog,
      processName: this.#builtins.get('process_name'),
      serviceName: this.#builtins.get('service_name'),
    });
  }

  // Postfix's "unused parameter" warnings: names main.cf sets that are
  // neither in the catalog, nor used as $name, nor in extraKnown.
  unusedParameters(extraKnown: Iterable<string> = []): string[] {
    return this.#unused(new Set(extraKnown));
  }

  // Expands any text against this configuration (postconf -x, master.cf).
  expandText(text: string, where = ''): string {
    try {
      return expand(text, (name) => this.#lookup(name, []));
    } catch (err) {
      throw this.#wrap(err, where);
    }
  }

  #check(def: ParamDef): void {
    const checks = {
      int: () => this.int(def.name),
      size: () => this.size(def.name),
      time: () => this.time(def.name),
      bool: () => this.bool(def.name),
      string: () => this.get(def.name),
      list: () => this.list(def.name),
    } as const;
    checks[def.type]();
  }

  #unused(extraKnown: Set<string>): string[] {
    const referenced = new Set<string>();
    const texts = [
      ...[...this.#defs.values()].map((def) => def.value),
      ...this.#overrides.values(),
    ];
    for (const text of texts)
      for (const name of referencedNames(text)) referenced.add(name);
    return [...this.#defs]
      .filter(([name]) => !this.#catalog.has(name) && !referenced.has(name))
      .filter(([name]) => !extraKnown.has(name))
      .map(
        ([name, def]) =>
          `${this.mainCfPath}: unused parameter: ${name}=${def.value}`,
      );
  }

  #typed(name: string, convert: (text: string) => number): number {
    const text = this.get(name);
    const def = this.#catalog.get(name);
    return this.#guard(name, () => {
      const value = convert(text);
      checkBounds(name, value, def?.min, def?.max);
      return value;
    });
  }

  #guard<T>(name: string, convert: () => T): T {
    try {
      return convert();
    } catch (err) {
      throw this.#wrap(err, this.#where(name));
    }
  }

  #unknown(name: string): string {
    const text = `config: parameter not in the catalog: ${name}`;
    if (strictMode()) throw new Error(text);
    if (!this.#warned.has(name)) {
      this.#warned.add(name);
      msg.warn(text);
    }
    return this.raw(name) === undefined ? '' : this.#expanded(name, []);
  }

  #expanded(name: string, stack: string[]): string {
    const cached = this.#cache.get(name);
    if (cached !== undefined) return cached;
    if (stack.includes(name) || stack.length > MAX_NESTING)
      throw new ConfigError(
        `${this.#where(stack[0])}parameter ${stack[0]}: ` +
          `unreasonable macro call nesting: "$${name}"`,
      );
    const text = this.#rawOrDefault(name);
    if (text === undefined) return '';
    let value: string;
    try {
      value = expand(text, (n) => this.#lookup(n, [...stack, name]));
    } catch (err) {
      throw this.#wrap(err, `${this.#where(name)}parameter ${name}: `);
    }
    this.#cache.set(name, value);
    return value;
  }

  #lookup(name: string, stack: string[]): string | undefined {
    if (this.#rawOrDefault(name) === undefined) return undefined;
    return this.#expanded(name, stack);
  }

  #rawOrDefault(name: string): string | undefined {
    const set = this.raw(name);
    if (set !== undefined) return set;
    const def = this.#catalog.get(name);
    return def ? this.defaultValue(def) : undefined;
  }

  #defaultContext(): DefaultContext {
    return {
      raw: (name) => this.raw(name),
      get: (name) => this.#expanded(name, []),
    };
  }

  // "/etc/postfix/main.cf, line 12: " when main.cf sets the value in use.
  #where(name: string | undefined): string {
    if (name === undefined) return '';
    if (this.#builtins.has(name) || this.#overrides.has(name)) return '';
    const def = this.#defs.get(name);
    return def ? `${this.mainCfPath}, line ${def.line}: ` : '';
  }

  #wrap(err: unknown, prefix: string): Error {
    if (err instanceof ValueError || err instanceof ExpandError)
      return new ConfigError(prefix + err.message);
    if (err instanceof ConfigError) return err;
    return new ConfigError(prefix + describeError(err));
  }
}

function builtinValues(
  configDir: string,
  options: LoadOptions,
): Map<string, string> {
  const script = path.basename(process.argv[1] ?? 'node', '.js');
  const processName = options.processName ?? script;
  return new Map([
    ['config_directory', configDir],
    ['process_id', String(process.pid)],
    ['process_name', processName],
    ['service_name', options.serviceName ?? processName],
  ]);
}
