// The name and domain restrictions of smtpd_check: reject_invalid_helo_
// hostname, reject_non_fqdn_{helo_hostname,sender,recipient} and
// reject_unknown_{sender,recipient}_domain (MX, then A/AAAA, via
// node:dns; smtpd_dns_resolver_address names a test's own server).
// Limits: no nullMX reply and no unknown_address_tempfail_action.

import * as dns from 'node:dns';
import * as net from 'node:net';
import { Config } from '../../packages/config/config';
import { splitAddress } from '../../packages/address/address';
import { Reply, reply } from './smtpd_chat';

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i;
const DNS_TIMEOUT_MS = 5_000;

// An address literal such as [192.0.2.1] or [IPv6:2001:db8::1].
function addressLiteral(name: string): boolean {
  const m = /^\[(?:ipv6:)?([^\]]+)\]$/i.exec(name);
  return m !== null && net.isIP(m[1]) !== 0;
}

// RFC 1035 host name syntax, with the trailing dot allowed, or a
// literal. "_" is let through: it is common in HELO names in the wild.
export function validHostname(name: string): boolean {
  if (addressLiteral(name)) return true;
  const bare = name.replace(/\.$/, '');
  if (bare.length === 0 || bare.length > 255) return false;
  const labels = bare.split('.');
  if (/^\d+$/.test(labels[labels.length - 1])) return net.isIPv4(bare);
  return labels.every((l) => LABEL.test(l));
}

export function fqdnHostname(name: string): boolean {
  if (addressLiteral(name)) return true;
  return validHostname(name) && name.replace(/\.$/, '').includes('.');
}

// A sender or recipient whose domain is missing or not fully qualified.
export function nonFqdnAddress(address: string): boolean {
  if (address === '') return false;
  const { domain } = splitAddress(address);
  return domain === '' || !fqdnHostname(domain);
}

export function heloReply(config: Config, helo: string, fqdn: boolean) {
  if (fqdn)
    return reply(
      config.int('non_fqdn_reject_code'),
      '5.5.2',
      `<${helo}>: Helo command rejected: need fully-qualified hostname`,
    );
  return reply(
    config.int('invalid_hostname_reject_code'),
    '5.5.2',
    `<${helo}>: Helo command rejected: Invalid name`,
  );
}

export function nonFqdnReply(config: Config, klass: string, a: string) {
  return reply(
    config.int('non_fqdn_reject_code'),
    '5.5.2',
    `<${a}>: ${klass} rejected: need fully-qualified address`,
  );
}

export const DOMAIN_STATUS = {
  FOUND: 'found',
  NOT_FOUND: 'not-found',
  TEMPFAIL: 'tempfail',
} as const;

type DomainStatus = (typeof DOMAIN_STATUS)[keyof typeof DOMAIN_STATUS];

const NOT_FOUND_CODES = new Set<string>([dns.NOTFOUND, dns.NODATA]);

// Does the domain have an MX, or else an A or AAAA record?
export class DomainFinder {
  readonly #resolver: dns.promises.Resolver;

  constructor(serverAddress: string) {
    this.#resolver = new dns.promises.Resolver({
      timeout: DNS_TIMEOUT_MS,
      tries: 2,
    });
    if (serverAddress) this.#resolver.setServers([serverAddress]);
  }

  async find(domain: string): Promise<DomainStatus> {
    const r = this.#resolver;
    let temp = false;
    for (const ask of [
      () => r.resolveMx(domain),
      () => r.resolve4(domain),
      () => r.resolve6(domain),
    ]) {
      try {
        if ((await ask()).length > 0) return DOMAIN_STATUS.FOUND;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (code === dns.NOTFOUND) return DOMAIN_STATUS.NOT_FOUND;
        if (!NOT_FOUND_CODES.has(code)) temp = true;
      }
    }
    return temp ? DOMAIN_STATUS.TEMPFAIL : DOMAIN_STATUS.NOT_FOUND;
  }
}

// The reply for an unknown domain: 4.1.8 for a sender, 4.1.2 for a
// recipient; a DNS failure is always a 450 (try again later).
// XXX a null MX (RFC 7505) is taken as found, not refused with Postfix's
// "does not accept mail (nullMX)", and unknown_address_tempfail_action
// is not read: a DNS failure always defers.
export function unknownDomainReply(
  config: Config,
  klass: 'Sender address' | 'Recipient address',
  address: string,
  status: DomainStatus,
): Reply | null {
  if (status === DOMAIN_STATUS.FOUND) return null;
  const code =
    status === DOMAIN_STATUS.TEMPFAIL
      ? 450
      : config.int('unknown_address_reject_code');
  const dsn = klass === 'Sender address' ? '5.1.8' : '5.1.2';
  return reply(code, dsn, `<${address}>: ${klass} rejected: Domain not found`);
}
