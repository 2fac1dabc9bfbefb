// Address mapping in cleanup, in Postfix's order: sender_canonical_maps
// or recipient_canonical_maps, then canonical_maps (each per its
// *_canonical_classes), then virtual_alias_maps for envelope recipients,
// expanded recursively. Used by cleanup_envelope.ts and
// cleanup_headers.ts; tables are opened once per configuration.

import { DictError, Maps } from '../../packages/tables/dict';
import { rewriteAddress } from '../../packages/address/rewrite';
import { msg } from '../../packages/log/log';
import { CLEANUP_FLAG, CLEANUP_STAT } from '../../packages/ipc/cleanup_client';
import { AddressMap, LocalDomains, MAP_CLASS } from './cleanup_map';
import type { CleanupConfig, CleanupState } from './cleanup_state';

export const CANON_CLASS = {
  ENVELOPE_SENDER: 'envelope_sender',
  ENVELOPE_RECIPIENT: 'envelope_recipient',
  HEADER_SENDER: 'header_sender',
  HEADER_RECIPIENT: 'header_recipient',
} as const;
export type CanonClass = (typeof CANON_CLASS)[keyof typeof CANON_CLASS];

const SENDER_CLASSES = new Set<CanonClass>([
  CANON_CLASS.ENVELOPE_SENDER,
  CANON_CLASS.HEADER_SENDER,
]);

// cleanup_map11 gives up after this many rounds of a canonical mapping
// whose result maps again.
const CANON_ROUNDS_MAX = 10;

interface ClassedMap {
  title: string;
  map: AddressMap;
  classes: ReadonlySet<string>;
}

export class CleanupMaps {
  readonly sender: ClassedMap[];
  readonly recipient: ClassedMap[];
  readonly virtual: AddressMap;
  readonly expansionLimit: number;
  readonly recursionLimit: number;

  constructor(config: CleanupConfig) {
    const locals = new LocalDomains(config);
    const classed = (name: string, classes: string): ClassedMap => ({
      title: name,
      map: addressMap(config, name, locals, MAP_CLASS.CANONICAL),
      classes: new Set(config.list(classes)),
    });
    const common = classed('canonical_maps', 'canonical_classes');
    this.sender = [
      classed('sender_canonical_maps', 'sender_canonical_classes'),
      common,
    ];
    this.recipient = [
      classed('recipient_canonical_maps', 'recipient_canonical_classes'),
      common,
    ];
    this.virtual = addressMap(
      config,
      'virtual_alias_maps',
      locals,
      MAP_CLASS.VIRTUAL,
    );
    this.expansionLimit = config.int('virtual_alias_expansion_limit');
    this.recursionLimit = config.int('virtual_alias_recursion_limit');
  }
}

function addressMap(
  config: CleanupConfig,
  name: string,
  locals: LocalDomains,
  klass: (typeof MAP_CLASS)[keyof typeof MAP_CLASS],
): AddressMap {
  const maps = new Maps(config.get(name), config, {}, name);
  return new AddressMap(maps, config, locals, klass);
}

const mapsByConfig = new WeakMap<CleanupConfig, CleanupMaps>();

export function cleanupMaps(config: CleanupConfig): CleanupMaps {
  let maps = mapsByConfig.get(config);
  if (!maps) {
    maps = new CleanupMaps(config);
    mapsByConfig.set(config, maps);
  }
  return maps;
}

// A table that fails defers the message, as Postfix's cleanup does.
function lookupProblem(state: CleanupState, title: string, addr: string) {
  msg.warn(
    `${state.queueId}: ${title} map lookup problem for ${addr} -- ` +
      'message not accepted, try again later',
  );
  state.fail(CLEANUP_STAT.WRITE);
}

async function findSafely(
  state: CleanupState,
  map: AddressMap,
  title: string,
  address: string,
): Promise<string[] | undefined> {
  try {
    return await map.find(address);
  } catch (err) {
    if (!(err instanceof DictError)) throw err;
    lookupProblem(state, title, address);
    return undefined;
  }
}

// One canonical table, applied until the result stops changing.
async function mapOne(
  state: CleanupState,
  entry: ClassedMap,
  address: string,
): Promise<string> {
  let current = address;
  for (let round = 0; round < CANON_ROUNDS_MAX; round++) {
    const found = await findSafely(state, entry.map, entry.title, current);
    if (!found || found.length === 0) return current;
    if (found.length > 1)
      msg.warn(
        `${state.queueId}: multi-valued ${entry.title} entry for ${current}`,
      );
    if (found[0].toLowerCase() === current.toLowerCase()) return found[0];
    current = found[0];
  }
  msg.warn(
    `${state.queueId}: unreasonable ${entry.title} map nesting for ${address}`,
  );
  return current;
}

// canonical(5) for one address of the given class; the null sender is
// never mapped.
export async function canonicalize(
  state: CleanupState,
  address: string,
  klass: CanonClass,
): Promise<string> {
  if (address === '' || !mayMap(state)) return address;
  const maps = cleanupMaps(state.config);
  const list = SENDER_CLASSES.has(klass) ? maps.sender : maps.recipient;
  let current = address;
  for (const entry of list) {
    if (entry.map.empty || !entry.classes.has(klass)) continue;
    current = await mapOne(state, entry, current);
  }
  return current;
}

// false when no table could change an envelope recipient, so that
// cleanup writes it without waiting on a lookup.
export function recipientMapping(state: CleanupState): boolean {
  if (!mayMap(state)) return false;
  const maps = cleanupMaps(state.config);
  const envelope = CANON_CLASS.ENVELOPE_RECIPIENT;
  const canon = maps.recipient.some(
    (e) => !e.map.empty && e.classes.has(envelope),
  );
  return canon || !maps.virtual.empty;
}

// CLEANUP_FLAG_MAP_OK: the client allows address mapping.
function mayMap(state: CleanupState): boolean {
  return (state.flags & CLEANUP_FLAG.MAP_OK) !== 0;
}

class Expansion {
  readonly list: string[];
  readonly seen = new Set<string>();

  constructor(address: string) {
    this.list = [address];
  }
}

function nestingProblem(state: CleanupState, what: string, addr: string) {
  msg.warn(
    `${state.queueId}: unreasonable virtual_alias_maps map ${what} for ` +
      `${addr} -- message not accepted, try again later`,
  );
  state.fail(CLEANUP_STAT.DEFER, '4.6.0 Alias expansion error');
}

// Expand one list position until it maps to nothing new.
async function expandAt(
  state: CleanupState,
  work: Expansion,
  at: number,
): Promise<boolean> {
  const maps = cleanupMaps(state.config);
  for (let depth = 0; ; depth++) {
    const address = work.list[at];
    if (work.seen.has(address.toLowerCase())) return true;
    work.seen.add(address.toLowerCase());
    if (depth >= maps.recursionLimit) {
      nestingProblem(state, 'nesting', address);
      return false;
    }
    const found = await findVirtual(state, address);
    if (state.failed) return false;
    if (!found || found.length === 0) return true;
    work.list[at] = found[0];
    work.list.push(...found.slice(1));
  }
}

async function findVirtual(
  state: CleanupState,
  address: string,
): Promise<string[] | undefined> {
  const maps = cleanupMaps(state.config);
  const title = 'virtual_alias_maps';
  const found = await findSafely(state, maps.virtual, title, address);
  if (!found) return undefined;
  const out: string[] = [];
  for (const item of found)
    out.push(await rewriteAddress(item, 'local', state.config));
  return out;
}

// virtual(5): the recipients one envelope recipient stands for; itself
// when no table has it. Limits as virtual_alias_expansion_limit and
// virtual_alias_recursion_limit; past them the message is deferred.
export async function expandVirtual(
  state: CleanupState,
  recipient: string,
): Promise<string[]> {
  const maps = cleanupMaps(state.config);
  if (!mayMap(state) || maps.virtual.empty) return [recipient];
  const work = new Expansion(recipient);
  for (let at = 0; at < work.list.length; at++) {
    if (work.list.length > maps.expansionLimit) {
      nestingProblem(state, 'expansion size', recipient);
      break;
    }
    if (!(await expandAt(state, work, at))) break;
  }
  return work.list;
}
