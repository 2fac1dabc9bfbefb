// Helpers for the TLS tests: a throwaway self-signed certificate made
// with the openssl command in a test's temporary folder, and an SMTP
// client that can switch its socket to TLS in the middle of a dialogue.
// Used by test/smtpd_tls_test.ts and test/smtp_tls_test.ts.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';

export interface TestCert {
  certFile: string;
  keyFile: string;
  chainFile: string; // key then certificate, for smtpd_tls_chain_files
}

// An RSA key, as most servers have; one day is enough for a test. san:
// a subjectAltName such as "IP:127.0.0.1"; files are named after it.
export function makeCert(
  dir: string,
  cn = 'mx.example.com',
  san = '',
): TestCert {
  const tag = san ? san.replace(/\W/g, '_') + '-' : '';
  const certFile = path.join(dir, `${tag}cert.pem`);
  const keyFile = path.join(dir, `${tag}key.pem`);
  const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days'];
  args.push('1', '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${cn}`);
  if (san) args.push('-addext', `subjectAltName=${san}`);
  execFileSync('openssl', args, { stdio: 'ignore' });
  const chainFile = path.join(dir, `${tag}chain.pem`);
  fs.writeFileSync(
    chainFile,
    fs.readFileSync(keyFile, 'utf8') + fs.readFileSync(certFile, 'utf8'),
  );
  return { certFile, keyFile, chainFile };
}

// Whole replies, multi-line aware, over plain TCP or TLS.
export class TlsLineClient {
  #socket: net.Socket;
  #buffer = '';
  #closed = false;
  received: string[] = []; // every reply line, in order

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    this.#listen(socket);
  }

  static connect(port: number, wrapper = false): Promise<TlsLineClient> {
    return new Promise((resolve, reject) => {
      const socket = wrapper
        ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false })
        : net.connect(port, '127.0.0.1');
      socket.once(wrapper ? 'secureConnect' : 'connect', () =>
        resolve(new TlsLineClient(socket)),
      );
      socket.once('error', reject);
    });
  }

  #listen(socket: net.Socket): void {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (this.#buffer += d));
    socket.on('close', () => (this.#closed = true));
    socket.on('error', () => undefined);
  }

  get socket(): net.Socket {
    return this.#socket;
  }

  write(raw: string): void {
    this.#socket.write(raw);
  }

  send(line: string): void {
    this.write(line + '\r\n');
  }

  // The handshake over the same connection, after "220 Ready to start
  // TLS". Plaintext still unread is dropped, as a careful client does.
  async startTls(options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
    const plain = this.#socket;
    plain.removeAllListeners('data');
    this.#buffer = '';
    const secure = tls.connect({
      socket: plain,
      rejectUnauthorized: false,
      ...options,
    });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.#socket = secure;
    this.#listen(secure);
    return secure;
  }

  async reply(timeoutMs = 5000): Promise<string[] | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.#takeReply();
      if (lines) return lines;
      if (this.#closed) return null;
      if (Date.now() > deadline)
        throw new Error(`no reply within ${timeoutMs} ms: ${this.#buffer}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  // The reply's first line, for one-line answers.
  async line(timeoutMs = 5000): Promise<string> {
    const r = await this.reply(timeoutMs);
    return r ? r.join('\n') : '(closed)';
  }

  #takeReply(): string[] | null {
    const lines: string[] = [];
    let pos = 0;
    for (;;) {
      const end = this.#buffer.indexOf('\r\n', pos);
      if (end < 0) return null;
      const line = this.#buffer.slice(pos, end);
      lines.push(line);
      pos = end + 2;
      if (line.charAt(3) !== '-') break;
    }
    this.#buffer = this.#buffer.slice(pos);
    this.received.push(...lines);
    return lines;
  }

  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    return this.#closed;
  }

  close(): void {
    this.#socket.destroy();
  }
}
