// The shape of one main.cf parameter in the catalog (params_<area>.ts).
// Shared by config.ts, postconf and every area file; kept free of imports
// so that catalog files never pull in the parser.

export const PARAM_TYPES = [
  'string',
  'int',
  'time',
  'size',
  'bool',
  'list',
] as const;

export type ParamType = (typeof PARAM_TYPES)[number];

// Time units as Postfix's conv_time knows them, in seconds.
export const TIME_UNITS = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 604800,
} as const;

export type TimeUnit = keyof typeof TIME_UNITS;

// What a computed default may look at: other parameters, raw or expanded.
export interface DefaultContext {
  raw(name: string): string | undefined;
  get(name: string): string;
}

export interface ParamDef {
  name: string;
  type: ParamType;
  // Postfix's default text, with $name expressions kept literally; a
  // function only where Postfix computes it (myhostname, mynetworks).
  default: string | ((ctx: DefaultContext) => string);
  min?: number;
  max?: number;
  // Default unit of a time parameter when the value has no suffix.
  unit?: TimeUnit;
  // Set by the program itself (process_id); main.cf cannot change it.
  readonly?: boolean;
  doc: string;
}
