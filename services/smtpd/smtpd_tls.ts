// smtpd's side of TLS (RFC 3207 STARTTLS, and smtpd_tls_wrappermode for
// port 465): the server context built once per process from the
// smtpd_tls_* parameters, and the handshake on one client socket. Used
// by smtpd_settings.ts and smtpd_proto.ts. Limits: no client
// certificates (smtpd_tls_ask_ccert), no session cache, no SNI.

import * as fs from 'node:fs';
import type { Socket } from 'node:net';
import * as tls from 'node:tls';
import type { Config } from '../../packages/config/config';
import { msg } from '../../packages/log/log';
import {
  cipherList,
  parseProtocols,
  securityLevel,
  TLS_LEVEL,
  type TlsLevel,
} from '../../packages/tls/tls_policy';

export interface ServerTls {
  level: TlsLevel;
  // null when STARTTLS is not offered: level none, or no usable key.
  context: tls.SecureContext | null;
  loglevel: number;
  receivedHeader: boolean;
  authOnly: boolean;
  wrapperMode: boolean;
  handshakeTimeoutMs: number;
}

export class TlsHandshakeError extends Error {}

// A bad level is a configuration error (smtpd does not start); a key
// or certificate that cannot be loaded only turns TLS off, with a
// warning, as Postfix does.
export function loadServerTls(config: Config, serviceName = 'smtp'): ServerTls {
  const level = securityLevel((name) => config.get(name), 'smtpd');
  return {
    level,
    context:
      level === TLS_LEVEL.NONE
        ? null
        : buildContext(config, level, serviceName),
    loglevel: config.int('smtpd_tls_loglevel'),
    receivedHeader: config.bool('smtpd_tls_received_header'),
    authOnly: config.bool('smtpd_tls_auth_only'),
    wrapperMode: config.bool('smtpd_tls_wrappermode'),
    handshakeTimeoutMs: config.time('smtpd_starttls_timeout') * 1000,
  };
}

interface KeyCert {
  key: string;
  cert: string;
}

function buildContext(
  config: Config,
  level: TlsLevel,
  serviceName: string,
): tls.SecureContext | null {
  // encrypt is mandatory TLS, which has its own protocol and cipher lists.
  const mandatory = level === TLS_LEVEL.ENCRYPT ? 'mandatory_' : '';
  const protocols = `smtpd_tls_${mandatory}protocols`;
  const ciphers = `smtpd_tls_${mandatory}ciphers`;
  try {
    const keyCert = readKeyCert(config);
    if (!keyCert) return null;
    return tls.createSecureContext({
      ...keyCert,
      ...parseProtocols(protocols, config.get(protocols)),
      ciphers: cipherList(ciphers, config.get(ciphers)),
      // Tickets of one master.cf service are no good to another.
      sessionIdContext: serviceName.slice(0, 32),
    });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    msg.warn(
      `cannot load certificate and key data: ${why}: disabling TLS support`,
    );
    return null;
  }
}

// smtpd_tls_chain_files wins over the older cert and key pair; each of
// its files holds a key followed by the certificates that go with it.
function readKeyCert(config: Config): KeyCert | null {
  const chain = config.list('smtpd_tls_chain_files');
  if (chain.length > 0) {
    const pem = chain.map((file) => readPem(file)).join('\n');
    return { key: pem, cert: pem };
  }
  const certFile = config.get('smtpd_tls_cert_file');
  const keyFile = config.get('smtpd_tls_key_file') || certFile;
  if (!certFile) {
    msg.warn("No server certs available. TLS won't be enabled");
    return null;
  }
  return { cert: readPem(certFile), key: readPem(keyFile) };
}

// Files read before the skeleton dropped root (preloadKeyFiles), as
// Postfix reads its keys in pre_jail_init: a key may be root's alone.
const PRELOADED = new Map<string, string>();

export function preloadKeyFiles(config: Config): void {
  const files = [
    ...config.list('smtpd_tls_chain_files'),
    config.get('smtpd_tls_cert_file'),
    config.get('smtpd_tls_key_file'),
  ];
  for (const file of files.filter(Boolean)) {
    try {
      PRELOADED.set(file, fs.readFileSync(file, 'utf8'));
    } catch {
      // buildContext reads it again and says why it cannot.
    }
  }
}

function readPem(file: string): string {
  const preloaded = PRELOADED.get(file);
  if (preloaded !== undefined) return preloaded;
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new Error(`cannot read file "${file}": ${code}`);
  }
}

export interface ServerHandshake {
  secure: tls.TLSSocket; // usable at once: writes wait for the handshake
  done: Promise<void>; // rejects with TlsHandshakeError
}

// The server handshake on a socket that has just carried "220 2.0.0
// Ready to start TLS" (or nothing, in wrapper mode). Must be called in
// the same tick as that write, before any more input is read: the
// client's first TLS bytes must reach the TLS layer, not the old reader.
export function startServerTls(socket: Socket, t: ServerTls): ServerHandshake {
  const secure = new tls.TLSSocket(socket, {
    isServer: true,
    secureContext: t.context!,
    requestCert: false,
  });
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new TlsHandshakeError('handshake timeout')),
      t.handshakeTimeoutMs,
    );
    const fail = (err: Error) => {
      clearTimeout(timer);
      secure.destroy();
      reject(new TlsHandshakeError(err.message));
    };
    const lost = () => fail(new TlsHandshakeError('lost connection'));
    secure.once('error', fail);
    secure.once('close', lost);
    secure.once('secure', () => {
      clearTimeout(timer);
      secure.off('error', fail);
      secure.off('close', lost);
      resolve();
    });
  });
  // The session sees a failure when it awaits; until then it is handled.
  done.catch(() => undefined);
  secure.on('error', () => undefined);
  return { secure, done };
}
