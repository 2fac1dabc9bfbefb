// SASL AUTH for smtpd (RFC 4954) through Dovecot's auth service, as
// Postfix's smtpd_sasl_type = dovecot: which mechanisms EHLO offers
// (smtpd_sasl_security_options and the _tls_ form inside TLS), and one
// AUTH exchange with its 334 challenges. Used by smtpd_settings.ts and
// smtpd_proto.ts. Limits: no Cyrus SASL (see the XXX below).

import * as path from 'node:path';
import type { Config } from '../../packages/config/config';
import { msg, printable } from '../../packages/log/log';
import { Reply, reply } from './smtpd_chat';
import { DovecotAuth, type Mechanism } from './smtpd_sasl_dovecot';
import type { SaslLogin } from './smtpd_state';

export interface SaslSettings {
  enabled: boolean; // smtpd_sasl_auth_enable
  path: string; // the auth socket, absolute
  service: string; // smtpd_sasl_service
  securityOptions: string[];
  tlsSecurityOptions: string[];
  authOnly: boolean; // smtpd_tls_auth_only
  brokenClients: boolean; // broken_sasl_auth_clients: also AUTH=
  timeoutMs: number;
}

export class SaslConfigError extends Error {}

// A relative smtpd_sasl_path is under the queue directory, as
// Postfix's private/auth for Dovecot.
// XXX no smtpd_sasl_authenticated_header and no
// smtpd_client_auth_rate_limit (anvil has no auth counter).
export function loadSasl(config: Config, queueDir: string): SaslSettings {
  const enabled = config.bool('smtpd_sasl_auth_enable');
  const type = config.get('smtpd_sasl_type');
  if (enabled && type !== 'dovecot')
    throw new SaslConfigError(
      `unsupported SASL server implementation: ${type}`,
    );
  const where = config.get('smtpd_sasl_path');
  return {
    enabled,
    path: path.isAbsolute(where) ? where : path.join(queueDir, where),
    service: config.get('smtpd_sasl_service'),
    securityOptions: config.list('smtpd_sasl_security_options'),
    tlsSecurityOptions: config.list('smtpd_sasl_tls_security_options'),
    authOnly: config.bool('smtpd_tls_auth_only'),
    brokenClients: config.bool('broken_sasl_auth_clients'),
    timeoutMs: config.time('smtpd_timeout') * 1000,
  };
}

// Option -> the Dovecot flag it forbids (no...) or requires.
const FORBIDS: Record<string, string> = {
  noanonymous: 'anonymous',
  noplaintext: 'plaintext',
  nodictionary: 'dictionary',
  noactive: 'active',
};
const REQUIRES: Record<string, string> = {
  mutual_auth: 'mutual-auth',
  forward_secrecy: 'forward-secrecy',
};

export function filterMechanisms(
  mechs: Mechanism[],
  options: string[],
): string[] {
  return mechs
    .filter((m) => !m.flags.includes('private'))
    .filter((m) =>
      options.every((o) => {
        if (FORBIDS[o]) return !m.flags.includes(FORBIDS[o]);
        if (REQUIRES[o]) return m.flags.includes(REQUIRES[o]);
        return true;
      }),
    )
    .map((m) => m.name.toUpperCase());
}

const known = new WeakMap<SaslSettings, Mechanism[]>();

// Dovecot's list, asked once per process; none (and a warning) while
// the auth service cannot be reached, so that AUTH is not offered.
async function serverMechanisms(sasl: SaslSettings): Promise<Mechanism[]> {
  const cached = known.get(sasl);
  if (cached) return cached;
  try {
    const auth = await DovecotAuth.open(sasl.path, sasl.timeoutMs);
    auth.close();
    known.set(sasl, auth.mechanisms);
    return auth.mechanisms;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    msg.warn(`SASL: Connect to ${sasl.path} failed: ${why}`);
    return [];
  }
}

// What EHLO lists after AUTH; [] when AUTH is not to be offered.
export async function offeredMechanisms(
  sasl: SaslSettings,
  tlsActive: boolean,
): Promise<string[]> {
  if (!sasl.enabled || (sasl.authOnly && !tlsActive)) return [];
  const options = tlsActive ? sasl.tlsSecurityOptions : sasl.securityOptions;
  return filterMechanisms(await serverMechanisms(sasl), options);
}

export interface SaslPeer {
  clientAddr: string;
  serverAddr: string;
  tlsActive: boolean;
}

// The SMTP side of a challenge: send "334 <challenge>", return the
// client's answer line.
export type Challenge = (challenge: string) => Promise<string>;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

// One AUTH command: the user, or the reply that refuses; a refusal by
// the auth server also has its reason, for the warning.
export async function authenticate(
  sasl: SaslSettings,
  args: string,
  peer: SaslPeer,
  challenge: Challenge,
): Promise<SaslLogin | { reply: Reply; reason?: string }> {
  const [mechText, initial] = args.split(/\s+/);
  const method = mechText.toUpperCase();
  const offered = await offeredMechanisms(sasl, peer.tlsActive);
  if (!offered.includes(method))
    return refused('Invalid authentication mechanism');
  const resp = initial === '=' ? '' : initial;
  if (resp !== undefined && !BASE64.test(resp)) return cannotDecode();
  let auth: DovecotAuth;
  try {
    auth = await DovecotAuth.open(sasl.path, sasl.timeoutMs);
  } catch {
    return lostServer();
  }
  try {
    return await exchange(auth, sasl, method, resp, peer, challenge);
  } catch {
    return lostServer();
  } finally {
    auth.close();
  }
}

async function exchange(
  auth: DovecotAuth,
  sasl: SaslSettings,
  method: string,
  resp: string | undefined,
  peer: SaslPeer,
  challenge: Challenge,
): Promise<SaslLogin | { reply: Reply; reason?: string }> {
  const params: Record<string, string | true> = {
    service: sasl.service,
    nologin: true,
    lip: peer.serverAddr,
    rip: peer.clientAddr,
  };
  if (peer.tlsActive) params.secured = true;
  let step = await auth.start(method, params, resp);
  while (step.kind === 'cont') {
    const answer = await challenge(step.challenge);
    if (answer === '*')
      return { reply: reply(501, '5.7.0', 'Authentication aborted') };
    if (!BASE64.test(answer)) return cannotDecode();
    step = await auth.next(answer);
  }
  if (step.kind === 'ok')
    return { method, username: printable(step.user, 255) };
  return refused(step.reason || 'authentication failure');
}

function refused(reason: string) {
  return {
    reply: reply(535, '5.7.8', `Error: authentication failed: ${reason}`),
    reason,
  };
}

function cannotDecode() {
  return { reply: reply(501, '5.5.2', 'Cannot decode response') };
}

function lostServer() {
  const text = 'Temporary authentication failure: Connection lost';
  return { reply: reply(454, '4.7.0', `${text} to authentication server`) };
}
