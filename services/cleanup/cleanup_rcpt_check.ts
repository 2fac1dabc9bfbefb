// smtpd's RCPT view of cleanup's address mapping, as Postfix's
// check_rcpt_maps: an address that canonical or virtual alias mapping
// knows is never "unlisted", and one in a virtual_alias_domains domain
// that virtual_alias_maps lacks is an unknown user. Used by
// services/smtpd/smtpd_check.ts; tables are opened once per Config.

import type { Config } from '../../packages/config/config';
import { resolveAddress } from '../../packages/address/resolve';
import { Maps } from '../../packages/tables/dict';
import {
  AddressMap,
  LocalDomains,
  MAP_CLASS,
  type MapClass,
} from './cleanup_map';

export interface UnknownAliasReply {
  code: number;
  dsn: string;
  text: string;
}

export const ALIAS_KNOWN = 'known';

interface RcptMaps {
  known: AddressMap[];
  virtual: AddressMap;
}

const TABLES = new WeakMap<Config, RcptMaps>();

function rcptMaps(config: Config): RcptMaps {
  let maps = TABLES.get(config);
  if (!maps) {
    const locals = new LocalDomains(config);
    const open = (name: string, klass: MapClass) =>
      new AddressMap(new Maps(config.get(name), config), config, locals, klass);
    const virtual = open('virtual_alias_maps', MAP_CLASS.VIRTUAL);
    maps = {
      known: [
        open('recipient_canonical_maps', MAP_CLASS.CANONICAL),
        open('canonical_maps', MAP_CLASS.CANONICAL),
        virtual,
      ],
      virtual,
    };
    TABLES.set(config, maps);
  }
  return maps;
}

// ALIAS_KNOWN when a mapping table has the address, a reply when it is
// in a virtual alias domain without a mapping, else null. A table that
// fails throws DictError, so that smtpd answers 4xx.
export async function virtualAliasVerdict(
  config: Config,
  address: string,
): Promise<typeof ALIAS_KNOWN | UnknownAliasReply | null> {
  const maps = rcptMaps(config);
  for (const map of maps.known)
    if ((await map.find(address)) !== undefined) return ALIAS_KNOWN;
  if (config.get('virtual_alias_domains').trim() === '') return null;
  const resolved = await resolveAddress(address, config);
  if (resolved.class !== 'virtual_alias') return null;
  return {
    code: config.int('unknown_virtual_alias_reject_code'),
    dsn: '5.1.1',
    text:
      `<${address}>: Recipient address rejected: ` +
      'User unknown in virtual alias table',
  };
}
