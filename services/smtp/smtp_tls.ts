// The smtp client's side of TLS: smtp_tls_security_level (may:
// opportunistic STARTTLS with a retry in plaintext when the handshake
// fails; encrypt: defer when the server offers no TLS), the nodemailer
// options for one attempt, and Postfix's "... TLS connection established
// to ..." line. Used by smtp_session.ts. Limits: no certificate checks
// by name (verify, secure), DANE, session cache or smtp_tls_policy_maps.

import * as fs from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Config } from '../../packages/config/config';
import { msg } from '../../packages/log/log';
import {
  cipherList,
  parseLevel,
  parseProtocols,
  TLS_LEVEL,
  tlsErrorText,
  tlsSummary,
  type TlsLevel,
  type VersionRange,
} from '../../packages/tls/tls_policy';
import type { Target } from './smtp_addr';
import type { Outcome } from './smtp_reason';

export interface ClientTls {
  level: TlsLevel;
  // Trust anchors from smtp_tls_CAfile; none without it, as Postfix
  // with tls_append_default_CA = no: a server is then "Untrusted".
  ca: string[];
  loglevel: number;
  protocols: VersionRange; // for the level: mandatory ones at encrypt
  ciphers: string;
}

// What an attempt's result asks of the caller: try the same host again
// without STARTTLS.
export const RETRY_PLAINTEXT = 'retry-plaintext' as const;

export function loadClientTls(config: Config, prefix = 'smtp'): ClientTls {
  const name = (p: string) => `${prefix}_tls_${p}`;
  const level = parseLevel(
    name('security_level'),
    config.get(name('security_level')),
  );
  const m = level === TLS_LEVEL.ENCRYPT ? 'mandatory_' : '';
  const caFile = config.get(name('CAfile'));
  return {
    level,
    ca: caFile ? [fs.readFileSync(caFile, 'utf8')] : [],
    loglevel: config.int(name('loglevel')),
    protocols: parseProtocols(
      name(`${m}protocols`),
      config.get(name(`${m}protocols`)),
    ),
    ciphers: cipherList(name(`${m}ciphers`), config.get(name(`${m}ciphers`))),
  };
}

function usesTls(t: ClientTls | undefined, plaintext: boolean): t is ClientTls {
  return !!t && t.level !== TLS_LEVEL.NONE && !plaintext;
}

// nodemailer's STARTTLS switches for one attempt. The certificate is
// not checked by nodemailer: at may and encrypt Postfix encrypts to any
// certificate and only logs whether it was trusted.
export function clientTlsOptions(
  t: ClientTls | undefined,
  plaintext: boolean,
): Partial<SMTPConnection.Options> {
  if (!usesTls(t, plaintext)) return { ignoreTLS: true };
  return {
    ignoreTLS: false,
    requireTLS: false,
    // A refused STARTTLS goes on in plaintext at may; at encrypt the
    // check after the greeting defers.
    opportunisticTLS: true,
    tls: {
      rejectUnauthorized: false,
      ca: t.ca,
      ciphers: t.ciphers,
      ...t.protocols,
    },
  };
}

interface ConnView {
  secure?: boolean;
  upgrading?: boolean; // between STARTTLS's 220 and the handshake's end
  _socket?: TLSSocket;
}

interface TlsError {
  code?: string;
}

// After the greeting (err unset: the session is ready): log the TLS
// connection, or say why the attempt is no good, or ask for a retry in
// plaintext. null: go on as the attempt went.
export function checkClientTls(
  conn: SMTPConnection,
  err: TlsError | undefined,
  target: Target,
  t: ClientTls | undefined,
  plaintext: boolean,
): Outcome | typeof RETRY_PLAINTEXT | null {
  if (!usesTls(t, plaintext)) return null;
  const peer = peerText(target);
  const view = conn as unknown as ConnView;
  if (err) return handshakeFailed(err, view, peer, t);
  if (view.secure && view._socket) {
    logEstablished(view._socket, peer, t);
    return null;
  }
  if (t.level !== TLS_LEVEL.ENCRYPT) return null;
  return {
    dsn: '4.7.4',
    reason: `TLS is required, but was not offered by host ${hostAddr(target)}`,
  };
}

// Postfix's opportunistic TLS: a failed handshake is logged and the
// same server is tried again without STARTTLS.
// The server may drop the connection before nodemailer reports the
// handshake error: then only its "upgrading" flag tells.
function handshakeFailed(
  err: TlsError,
  view: ConnView,
  peer: string,
  t: ClientTls,
): Outcome | typeof RETRY_PLAINTEXT | null {
  if (err.code !== 'ETLS' && !view.upgrading) return null;
  msg.info(`SSL_connect error to ${peer}: ${tlsErrorText(err)}`);
  if (t.level === TLS_LEVEL.MAY) return RETRY_PLAINTEXT;
  return { dsn: '4.7.5', reason: 'Cannot start TLS: handshake failure' };
}

function logEstablished(socket: TLSSocket, peer: string, t: ClientTls): void {
  if (t.loglevel < 1) return;
  const cert = socket.getPeerCertificate();
  const trust = !cert || !cert.raw ? 'Anonymous' : trustOf(socket);
  msg.info(
    `${trust} TLS connection established to ${peer}: ${tlsSummary(socket, 'client')}`,
  );
}

// Postfix's "Trusted" is a chain that ends at one of our CAs, whatever
// names the certificate holds; node:tls also counts a name mismatch as
// unauthorized, and checks the name only once the chain is good.
function trustOf(socket: TLSSocket): 'Trusted' | 'Untrusted' {
  if (socket.authorized) return 'Trusted';
  const why = String(socket.authorizationError ?? '');
  return why === 'ERR_TLS_CERT_ALTNAME_INVALID' ? 'Trusted' : 'Untrusted';
}

function hostAddr(target: Target): string {
  return target.kind === 'inet'
    ? `${target.host}[${target.addr}]`
    : `${target.host}[${target.path}]`;
}

function peerText(target: Target): string {
  return target.kind === 'inet'
    ? `${hostAddr(target)}:${target.port}`
    : hostAddr(target);
}
