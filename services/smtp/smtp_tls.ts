// The smtp and lmtp clients' side of TLS: smtp_tls_security_level or
// lmtp_tls_security_level (may retries in plaintext after a failed
// handshake; encrypt defers without TLS), nodemailer's options for one
// attempt, and Postfix's "... TLS connection established to ..." line.
// Used by smtp_session.ts. Limits: no secure/dane levels, session cache
// or *_tls_policy_maps.

import * as fs from 'node:fs';
import * as tls from 'node:tls';
import type { TLSSocket } from 'node:tls';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Config } from '../../packages/config/config';
import { msg } from '../../packages/log/log';
import {
  cipherList,
  isMandatory,
  parseProtocols,
  securityLevel,
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
  // A CA file or list that could not be used: no STARTTLS at may, and
  // a deferral at encrypt, as Postfix's "disabling TLS support".
  engineDown: boolean;
}

// What an attempt's result asks of the caller: try the same host again
// without STARTTLS.
export const RETRY_PLAINTEXT = 'retry-plaintext' as const;

export type ClientPrefix = 'smtp' | 'lmtp';

// A bad level stops the agent (a configuration error); a bad CA file,
// protocol list or cipher grade turns TLS off with a warning. The lmtp
// client reads the lmtp_tls_* twins, as Postfix's.
export function loadClientTls(
  config: Config,
  p: ClientPrefix = 'smtp',
): ClientTls {
  const level = securityLevel((name) => config.get(name), p);
  const t: ClientTls = {
    level,
    ca: [],
    loglevel: config.int(`${p}_tls_loglevel`),
    protocols: { minVersion: 'TLSv1', maxVersion: 'TLSv1.3' },
    ciphers: '',
    engineDown: false,
  };
  if (level === TLS_LEVEL.NONE) return t;
  try {
    Object.assign(t, engineSettings(config, level, p));
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    msg.warn(`${p} TLS: ${why}: disabling TLS support`);
    t.engineDown = true;
  }
  return t;
}

function engineSettings(config: Config, level: TlsLevel, p: ClientPrefix) {
  const m = isMandatory(level) ? 'mandatory_' : '';
  const protocols = `${p}_tls_${m}protocols`;
  const ciphers = `${p}_tls_${m}ciphers`;
  const caFile = config.get(`${p}_tls_CAfile`);
  return {
    ca: caFile ? [readCaFile(caFile)] : [],
    protocols: parseProtocols(protocols, config.get(protocols)),
    ciphers: cipherList(ciphers, config.get(ciphers)),
  };
}

function readCaFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new Error(
      `cannot load Certification Authority data, CAfile=${file}: ${code}`,
    );
  }
}

function usesTls(t: ClientTls | undefined, plaintext: boolean): t is ClientTls {
  return !!t && t.level !== TLS_LEVEL.NONE && !t.engineDown && !plaintext;
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
  if (!err && t?.engineDown && isMandatory(t.level))
    return {
      dsn: '4.7.5',
      reason: 'TLS is required, but our TLS engine is unavailable',
    };
  if (!usesTls(t, plaintext)) return null;
  const peer = peerText(target);
  const view = conn as unknown as ConnView;
  if (err) return handshakeFailed(err, view, peer, t);
  if (view.secure && view._socket) return established(view._socket, target, t);
  if (!isMandatory(t.level)) return null;
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

// Log the connection; at verify, a certificate that is not Verified
// (trusted and naming the host) defers, as Postfix.
function established(
  socket: TLSSocket,
  target: Target,
  t: ClientTls,
): Outcome | null {
  const trust = trustLevel(socket, target, t.level);
  if (t.loglevel >= 1) {
    const summary = tlsSummary(socket, 'client');
    const peer = peerText(target);
    msg.info(`${trust} TLS connection established to ${peer}: ${summary}`);
  }
  if (t.level !== TLS_LEVEL.VERIFY || trust === 'Verified') return null;
  return { dsn: '4.7.5', reason: 'Server certificate not verified' };
}

// smtp_tls_verify_cert_match's default, "hostname": the name the MX
// lookup (or the nexthop) gave. "Verified" is checked only at verify.
function trustLevel(socket: TLSSocket, target: Target, level: TlsLevel) {
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.raw) return 'Anonymous';
  if (trustOf(socket) === 'Untrusted') return 'Untrusted';
  if (level !== TLS_LEVEL.VERIFY) return 'Trusted';
  const wrongName = tls.checkServerIdentity(target.host, cert);
  return wrongName ? 'Trusted' : 'Verified';
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
