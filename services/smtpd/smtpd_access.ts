// access(5) tables for smtpd's check_client_access, check_helo_access,
// check_sender_access and check_recipient_access: the lookup keys in
// Postfix's order and the table's action turned into a decision. Used
// by smtpd_check.ts, which carries out the actions that go on to cleanup
// (HOLD, DISCARD, FILTER, REDIRECT, BCC, PREPEND) and WARN and INFO.
// Limits: restriction classes are refused as configuration errors.

import * as net from 'node:net';
import { DICT_FLAG, Maps } from '../../packages/tables/dict';
import { splitAddress } from '../../packages/address/address';
import { reply, Reply } from './smtpd_chat';

export const ACCESS = {
  PERMIT: 'permit',
  DUNNO: 'dunno',
  REPLY: 'reply', // reject or defer: the reply says which
  HOLD: 'hold', // put the message on hold, and go on with the list
  DISCARD: 'discard', // accept, then throw the message away
  FILTER: 'filter', // a content filter: transport:destination
  REDIRECT: 'redirect', // every recipient replaced by one address
  BCC: 'bcc', // a blind copy to one address
  PREPEND: 'prepend', // a header put before the message's own
  WARN: 'warn', // log the text and go on
  INFO: 'info', // log the text and go on
  UNSUPPORTED: 'unsupported',
} as const;

// Actions whose words are access(5)'s names, with an optional text.
const TEXT_ACTIONS: Record<string, AccessResult['kind']> = {
  HOLD: ACCESS.HOLD,
  DISCARD: ACCESS.DISCARD,
  FILTER: ACCESS.FILTER,
  REDIRECT: ACCESS.REDIRECT,
  BCC: ACCESS.BCC,
  PREPEND: ACCESS.PREPEND,
  WARN: ACCESS.WARN,
  INFO: ACCESS.INFO,
};

export interface AccessResult {
  kind: (typeof ACCESS)[keyof typeof ACCESS];
  reply?: Reply;
  restriction?: string; // an action that names a restriction
  text?: string; // the words after the action (HOLD text, FILTER nexthop)
}

interface Key {
  key: string;
  partial: boolean; // only exact-match tables see partial keys
}

// The first key any table of maps knows, and its value.
export async function lookupKeys(
  maps: Maps,
  keys: Key[],
): Promise<string | undefined> {
  for (const { key, partial } of keys) {
    const value = await maps.lookup(key, partial ? DICT_FLAG.FIXED : 0);
    if (value !== undefined) return value;
  }
  return undefined;
}

// user@domain, then domain and its parents, then user@ (access(5),
// with smtpd_access_maps in parent_domain_matches_subdomains).
export function addressKeys(address: string, nullKey: string): Key[] {
  if (address === '') return [{ key: nullKey, partial: false }];
  const { local, domain } = splitAddress(address);
  const keys: Key[] = [{ key: address.toLowerCase(), partial: false }];
  for (const name of domainAndParents(domain))
    keys.push({ key: name, partial: true });
  keys.push({ key: `${local.toLowerCase()}@`, partial: true });
  return keys;
}

// The client: its name and parents, then its address and the address
// cut at each dot (IPv4) or colon (IPv6).
export function clientKeys(name: string, addr: string): Key[] {
  const keys: Key[] = [];
  if (name !== 'unknown')
    for (const n of domainAndParents(name))
      keys.push({ key: n, partial: keys.length > 0 });
  keys.push({ key: addr, partial: false });
  const sep = net.isIPv6(addr) ? ':' : '.';
  const parts = addr.split(sep);
  for (let n = parts.length - 1; n > 0; n--)
    keys.push({ key: parts.slice(0, n).join(sep), partial: true });
  return keys;
}

export function heloKeys(helo: string): Key[] {
  return domainAndParents(helo).map((key, i) => ({ key, partial: i > 0 }));
}

function domainAndParents(domain: string): string[] {
  const labels = domain.toLowerCase().replace(/\.$/, '').split('.');
  const out: string[] = [];
  for (let i = 0; i < labels.length; i++)
    if (labels[i]) out.push(labels.slice(i).join('.'));
  return out;
}

export interface AccessCodes {
  rejectCode: number; // access_map_reject_code
  deferCode: number; // access_map_defer_code
}

// One access(5) action. subject is the "<x>: Sender address" part.
export function accessAction(
  value: string,
  subject: { klass: string; value: string },
  codes: AccessCodes,
): AccessResult {
  const word = value.trim().split(/\s+/)[0];
  // The text as written: a PREPEND header keeps its spacing.
  const text = value.trim().slice(word.length).trim();
  const upper = (word ?? '').toUpperCase();
  const say = (code: number, dsn: string, why: string) => ({
    kind: ACCESS.REPLY,
    reply: reply(
      code,
      dsn,
      `<${subject.value}>: ${subject.klass} rejected: ${why}`,
    ),
  });
  if (upper === 'OK' || upper === 'PERMIT') return { kind: ACCESS.PERMIT };
  if (upper === 'DUNNO') return { kind: ACCESS.DUNNO };
  if (upper === 'REJECT')
    return say(codes.rejectCode, '5.7.1', text || 'Access denied');
  if (upper === 'DEFER')
    return say(codes.deferCode, '4.7.1', text || 'Access denied');
  if (upper in TEXT_ACTIONS) return { kind: TEXT_ACTIONS[upper], text };
  const numeric = /^([45]\d\d)$/.exec(upper);
  if (numeric) return numericAction(Number(numeric[1]), text, say);
  if (/^[a-z_]+$/.test(word ?? ''))
    return { kind: ACCESS.UNSUPPORTED, restriction: word };
  return { kind: ACCESS.UNSUPPORTED };
}

// "550 5.7.0 text" or "450 text": the default enhanced code follows the
// reply class, as Postfix's access(5) says.
function numericAction(
  code: number,
  text: string,
  say: (code: number, dsn: string, why: string) => AccessResult,
): AccessResult {
  const m = /^([245]\.\d{1,3}\.\d{1,3})\s*(.*)$/.exec(text);
  const dsn = m ? m[1] : `${String(code)[0]}.7.1`;
  return say(code, dsn, (m ? m[2] : text) || 'Access denied');
}
