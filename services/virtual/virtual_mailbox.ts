// Where virtual(8) puts a recipient's mail: the virtual_mailbox_maps
// lookup (full address, address without extension, @domain), the path
// under virtual_mailbox_base (a trailing / means Maildir) and the owner
// from virtual_uid_maps and virtual_gid_maps. Used by virtual_deliver.ts.

import * as path from 'node:path';
import { Maps } from '../../packages/tables/dict';
import {
  bounced,
  deferred,
  type Outcome,
  type Rights,
} from '../local/local_state';
import { msg } from '../../packages/log/log';

export interface VirtualTables {
  mailboxes: Maps;
  uids: Maps;
  gids: Maps;
  base: string;
  minimumUid: number;
  recipientDelimiter: string;
}

export interface VirtualMailbox {
  path: string; // absolute; for a Maildir, the folder without its '/'
  maildir: boolean;
  rights: Rights;
}

// The keys Postfix's mail_addr_find tries for a virtual address, in
// order: the address, the address without its extension, then @domain.
export function lookupKeys(address: string, delimiters: string): string[] {
  const at = address.lastIndexOf('@');
  const local = at < 0 ? address : address.slice(0, at);
  const domain = at < 0 ? '' : address.slice(at + 1).toLowerCase();
  const keys = [`${local.toLowerCase()}@${domain}`];
  const cut = [...local].findIndex((ch) => delimiters.includes(ch));
  if (delimiters && cut > 0)
    keys.push(`${local.slice(0, cut).toLowerCase()}@${domain}`);
  if (domain) keys.push(`@${domain}`);
  return keys;
}

async function findFirst(
  maps: Maps,
  keys: string[],
): Promise<string | undefined> {
  for (const key of keys) {
    const value = await maps.lookup(key);
    if (value !== undefined) return value.trim();
  }
  return undefined;
}

// A mailbox, or the Outcome that stops the delivery (unknown user,
// configuration error, table failure).
export async function findMailbox(
  t: VirtualTables,
  recipient: string,
): Promise<VirtualMailbox | Outcome> {
  const keys = lookupKeys(recipient, t.recipientDelimiter);
  try {
    const where = await findFirst(t.mailboxes, keys);
    if (where === undefined)
      return bounced('5.1.1', `unknown user: "${recipient.toLowerCase()}"`);
    const uid = await findId(t.uids, keys, recipient, 'uid');
    const gid = await findId(t.gids, keys, recipient, 'gid');
    if (typeof uid !== 'number') return uid;
    if (typeof gid !== 'number') return gid;
    if (uid < t.minimumUid) return badId(recipient, 'uid', uid, t.uids);
    return mailbox(t, where, {
      name: recipient,
      uid,
      gid,
      home: '',
      shell: '',
    });
  } catch (err) {
    msg.warn(`${recipient}: ${(err as Error).message}`);
    return deferred('4.3.0', 'mail system configuration error');
  }
}

async function findId(
  maps: Maps,
  keys: string[],
  recipient: string,
  kind: 'uid' | 'gid',
): Promise<number | Outcome> {
  const value = await findFirst(maps, keys);
  if (value === undefined) {
    msg.warn(`recipient ${recipient}: ${kind} not found in ${maps.title}`);
    return deferred('4.3.0', 'mail system configuration error');
  }
  if (!/^\d+$/.test(value)) return badId(recipient, kind, value, maps);
  return Number(value);
}

function badId(
  recipient: string,
  kind: string,
  value: string | number,
  maps: Maps,
): Outcome {
  msg.warn(`recipient ${recipient}: bad ${kind} ${value} in ${maps.title}`);
  return deferred('4.3.0', 'mail system configuration error');
}

// Postfix joins base and value with '/', so an absolute value under an
// empty base stays absolute; a value with ".." is refused, since it
// would leave virtual_mailbox_base.
function mailbox(
  t: VirtualTables,
  where: string,
  rights: Rights,
): VirtualMailbox | Outcome {
  if (where.split('/').includes('..') || where === '') {
    msg.warn(`recipient ${rights.name}: bad mailbox path "${where}"`);
    return deferred('4.3.0', 'mail system configuration error');
  }
  const full = path.resolve(`${t.base}/${where}`);
  return { path: full, maildir: where.endsWith('/'), rights };
}
