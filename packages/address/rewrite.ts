// Address canonicalisation as trivial-rewrite's "rewrite" request does:
// bang paths and "user%domain" to user@domain, then @$myorigin and
// .$mydomain appended per append_at_myorigin and append_dot_mydomain.
//
//   await rewriteAddress('joe', 'local', config)  // 'joe@example.com'
//
// The 'remote' context uses remote_header_rewrite_domain instead, and
// leaves addresses alone while that is empty (Postfix's default).
// Used by cleanup (rewriteAddressSync) and smtpd (through resolve.ts,
// which re-exports it).

import type { TableConfig } from '../tables/dict';
import { joinAddress, splitAddress } from './address';
import { configBool } from './config_values';

export type RewriteContext = 'local' | 'remote';

export async function rewriteAddress(
  address: string,
  context: RewriteContext,
  config: TableConfig,
): Promise<string> {
  return rewriteAddressSync(address, context, config);
}

// The same without a promise: the rules read only the configuration, and
// cleanup rewrites every envelope address on its hot path.
export function rewriteAddressSync(
  address: string,
  context: RewriteContext,
  config: TableConfig,
): string {
  if (address === '') return address;
  let { local, domain } = splitAddress(address);
  if (!address.includes('@')) ({ local, domain } = unrouteBare(local, config));
  domain = domain.replace(/\.+$/, '');

  const origin =
    context === 'local' ? config.get('myorigin') : remoteDomain(config);
  const mydomain =
    context === 'local' ? config.get('mydomain') : remoteDomain(config);
  if (
    domain === '' &&
    origin !== '' &&
    configBool(config, 'append_at_myorigin')
  )
    domain = origin;
  if (
    domain !== '' &&
    !domain.includes('.') &&
    !domain.startsWith('[') &&
    mydomain !== '' &&
    configBool(config, 'append_dot_mydomain')
  )
    domain = `${domain}.${mydomain}`;
  return joinAddress(local, domain);
}

function remoteDomain(config: TableConfig): string {
  return config.get('remote_header_rewrite_domain').trim();
}

// "host!user" becomes user@host (swap_bangpath) and "user%host" becomes
// user@host (allow_percent_hack), for addresses without "@" only; the
// resolver undoes them for local domains.
export function unrouteBare(
  local: string,
  config: TableConfig,
): { local: string; domain: string } {
  const bang = local.indexOf('!');
  if (bang > 0 && configBool(config, 'swap_bangpath'))
    return { local: local.slice(bang + 1), domain: local.slice(0, bang) };
  const percent = local.lastIndexOf('%');
  if (percent > 0 && configBool(config, 'allow_percent_hack'))
    return { local: local.slice(0, percent), domain: local.slice(percent + 1) };
  return { local, domain: '' };
}
