// Reading the few kinds of main.cf values that address code needs from
// any TableConfig (packages/config's Config fits): booleans in Postfix's
// yes/no spelling, comma/space lists and "transport:nexthop" pairs.

import type { TableConfig } from '../tables/dict';
import { splitTableList } from '../tables/dict_parse';

export function configBool(config: TableConfig, name: string): boolean {
  return /^(yes|true|1)$/i.test(config.get(name).trim());
}

export function configList(config: TableConfig, name: string): string[] {
  return splitTableList(config.get(name));
}

export function inConfigList(
  config: TableConfig,
  listName: string,
  item: string,
): boolean {
  return configList(config, listName).some(
    (entry) => entry.toLowerCase() === item.toLowerCase(),
  );
}

export interface TransportSpec {
  transport: string;
  nexthop: string;
}

// "transport:nexthop" splits at the first colon: "smtp:[host]:25" has
// the nexthop "[host]:25". A value without a colon is a transport.
export function parseTransport(value: string): TransportSpec {
  const text = value.trim();
  const colon = text.indexOf(':');
  if (colon < 0) return { transport: text, nexthop: '' };
  return { transport: text.slice(0, colon), nexthop: text.slice(colon + 1) };
}
