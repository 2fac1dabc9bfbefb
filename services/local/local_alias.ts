// alias_maps expansion for local: look the name up in each table, pick
// the rights (alias file owner, or default_privs for root's files) and
// the owner-name sender, then deliver to each destination of the value.
// Used by local_recipient.ts for the full localpart, then the bare user.

import * as fs from 'node:fs';
import { msg } from '../../packages/log/log';
import {
  openOrSurrogate,
  type Dict,
  type TableConfig,
} from '../../packages/tables/dict';
import { parseDictSpec } from '../../packages/tables/dict_parse';
import { deliverTokens } from './local_token';
import { getpwuid, leaveRest } from './local_user';
import {
  bounced,
  deferred,
  type AliasTable,
  type DeliveryAttr,
  type LocalContext,
  type Rights,
} from './local_state';

// Alias nesting deeper than this is a loop in the alias database.
export const ALIAS_NESTING_LIMIT = 100;

class TableError extends Error {}

// True when name is an alias (delivered, deferred or bounced here);
// false to go on with .forward and the mailbox.
export async function deliverAlias(
  ctx: LocalContext,
  attr: DeliveryAttr,
  name: string,
): Promise<boolean> {
  // "name: name, ..." means the user's own mailbox, as in sendmail.
  if (attr.expFrom && attr.expFrom === name) return false;
  if (attr.level > ALIAS_NESTING_LIMIT) {
    msg.warn(`alias database loop for ${name}`);
    ctx.record(attr, bounced('5.4.6', `alias database loop for ${name}`));
    return true;
  }
  try {
    const hit = await findAlias(ctx.aliases, name);
    if (!hit) return false;
    await expandAlias(ctx, attr, name, hit);
  } catch (err) {
    if (!(err instanceof TableError)) throw err;
    msg.warn(`${ctx.msg.queueId}: alias lookup of ${name}: ${err.message}`);
    ctx.record(attr, deferred('4.3.0', 'alias database unavailable'));
  }
  return true;
}

interface AliasHit {
  table: AliasTable;
  value: string;
}

async function findAlias(
  tables: AliasTable[],
  name: string,
): Promise<AliasHit | null> {
  for (const table of tables) {
    const value = await lookupOnce(table, name);
    if (value !== undefined) return { table, value };
  }
  return null;
}

// A table that mail_owner may not read is read again with root's rights
// (local.ts rests with mail_owner's between deliveries).
async function lookupOnce(
  table: AliasTable,
  name: string,
): Promise<string | undefined> {
  try {
    return await table.lookup(name);
  } catch (err) {
    if (!leaveRest())
      throw new TableError(`${table.name}: ${(err as Error).message}`);
  }
  try {
    return await table.lookup(name);
  } catch (err) {
    throw new TableError(`${table.name}: ${(err as Error).message}`);
  }
}

async function expandAlias(
  ctx: LocalContext,
  attr: DeliveryAttr,
  name: string,
  hit: AliasHit,
): Promise<void> {
  const rights = aliasRights(hit.table);
  if (rights === undefined) {
    msg.warn(`cannot find alias database owner for ${hit.table.name}`);
    ctx.record(attr, deferred('4.3.0', 'cannot find alias database owner'));
    return;
  }
  const owner = await ownerSender(ctx, name);
  const next = aliasAttr(attr, name, rights, owner);
  // XXX DSN: NOTIFY=SUCCESS is not turned into an "expanded" (or, with
  // an owner, "delivered") report, and ENVID/ORCPT are not reset for a
  // list with an owner.
  const count = await deliverTokens(ctx, next, hit.value);
  if (count < 1) {
    msg.warn(`no recipient in alias lookup result for ${name}`);
    ctx.record(attr, deferred('4.3.0', 'alias database unavailable'));
  }
}

function aliasAttr(
  attr: DeliveryAttr,
  name: string,
  rights: Rights | null,
  owner: string | null,
): DeliveryAttr {
  return {
    ...attr,
    origin: 'alias',
    expFrom: name,
    rights,
    level: attr.level + 1,
    owner: owner ?? '',
    sender: owner ?? attr.sender,
    // A list with an owner is a new message: no X-Original-To from ours.
    origRecipient: owner ? '' : attr.origRecipient,
  };
}

// The rights of the table's owner; null for root's (default_privs), and
// undefined when the owner has no passwd entry.
function aliasRights(table: AliasTable): Rights | null | undefined {
  if (table.ownerUid === 0) return null;
  return getpwuid(table.ownerUid) ?? undefined;
}

// owner-name, when that alias exists, becomes the sender of the expanded
// copies (owner_request_special), or its expansion (expand_owner_alias),
// with @$myorigin appended as address rewriting would.
async function ownerSender(
  ctx: LocalContext,
  name: string,
): Promise<string | null> {
  if (!ctx.settings.ownerRequestSpecial || name.startsWith('owner-'))
    return null;
  const owner = `owner-${name}`;
  const hit = await findAlias(ctx.aliases, owner);
  if (!hit) return null;
  const who = ctx.settings.expandOwnerAlias ? hit.value.trim() : owner;
  return who.includes('@') ? who : `${who}@${ctx.myorigin}`;
}

// alias_maps as local's tables, each with the owner of its file. A table
// that cannot be opened still answers, with errors, so that its
// recipients defer (as Postfix does) instead of the agent dying.
export function openAliasTables(
  names: string[],
  config: TableConfig,
): AliasTable[] {
  return names.filter(usable).map((name) => {
    const dict = openOrSurrogate(name, { config });
    const spec = parseDictSpec(name);
    return {
      name,
      ownerUid: tableOwner(spec?.name ?? name),
      lookup: (key) => lookupAlias(dict, spec?.type ?? '', key),
    };
  });
}

// Postfix's default alias_maps names nis:mail.aliases; without a NIS
// domain Postfix skips it with this warning rather than defer all mail.
// XXX there is no NIS client, so nis: tables are always skipped.
function usable(name: string): boolean {
  if (parseDictSpec(name)?.type !== 'nis') return true;
  msg.warn('dict_nis_init: NIS domain name not set - NIS lookups disabled');
  return false;
}

// texthash reads postmap's "key value" form; an aliases(5) file read that
// way keeps the colon on its keys, so "name:" is tried as well.
// XXX "name:value" with no space after the colon is not found this way;
// texthash would need to parse aliases(5) lines when used as alias_maps.
async function lookupAlias(
  dict: Dict,
  type: string,
  key: string,
): Promise<string | undefined> {
  const value = await dict.lookup(key);
  if (value !== undefined || type !== 'texthash') return value;
  return dict.lookup(`${key}:`);
}

// The owner of the table's file: the source, or what postalias built.
function tableOwner(file: string): number {
  for (const suffix of ['', '.lmdb', '.cdb', '.db']) {
    try {
      return fs.statSync(file + suffix).uid;
    } catch {
      // Try the next name postalias may have written.
    }
  }
  return 0;
}
