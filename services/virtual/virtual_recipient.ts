// smtpd's RCPT check for virtual mailbox domains: an address whose
// domain is in virtual_mailbox_domains and that has no entry in
// virtual_mailbox_maps is an unknown user, as Postfix's smtpd says at
// RCPT. Used by services/smtpd/smtpd_check.ts beside the local check.

import type { Config } from '../../packages/config/config';
import { resolveAddress } from '../../packages/address/resolve';
import { Maps } from '../../packages/tables/dict';
import { lookupKeys } from './virtual_mailbox';

export interface UnknownReply {
  code: number;
  dsn: string;
  text: string;
}

// One Maps per configuration, opened on first use.
const TABLES = new WeakMap<Config, Maps>();

function mailboxMaps(config: Config): Maps {
  let maps = TABLES.get(config);
  if (!maps) {
    maps = new Maps(config.list('virtual_mailbox_maps'), config);
    TABLES.set(config, maps);
  }
  return maps;
}

// null when the address is not in a virtual mailbox domain or has a
// mailbox; a table that fails throws, so that smtpd answers 4xx.
export async function unknownVirtualMailbox(
  config: Config,
  address: string,
): Promise<UnknownReply | null> {
  const maps = mailboxMaps(config);
  if (maps.empty) return null;
  const resolved = await resolveAddress(address, config);
  if (resolved.class !== 'virtual') return null;
  const delimiter = config.get('recipient_delimiter');
  for (const key of lookupKeys(address, delimiter))
    if ((await maps.lookup(key)) !== undefined) return null;
  return {
    code: config.int('unknown_virtual_mailbox_reject_code'),
    dsn: '5.1.1',
    text:
      `<${address}>: Recipient address rejected: ` +
      'User unknown in virtual mailbox table',
  };
}
