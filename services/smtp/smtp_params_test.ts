// Unit tests of the smtp and lmtp settings read from a real main.cf:
// Postfix's defaults, $name expansion, and the lmtp_* twins.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../../packages/config/config';
import { loadSmtpSettings } from './smtp_deliver';

function configWith(lines: string[]): { config: Config; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtp-params-'));
  fs.writeFileSync(path.join(dir, 'main.cf'), lines.join('\n') + '\n');
  return { config: Config.load({ configDir: dir }), dir };
}

test('does take Postfix defaults when main.cf sets nothing', () => {
  const { config, dir } = configWith(['myhostname = mx.example.org']);
  try {
    const s = loadSmtpSettings(config, false);
    assert.equal(s.heloName, 'mx.example.org');
    assert.equal(s.connectTimeoutMs, 30_000);
    assert.equal(s.heloTimeoutMs, 300_000);
    assert.equal(s.envelopeTimeoutMs, 300_000);
    assert.equal(s.xferTimeoutMs, 180_000);
    assert.equal(s.doneTimeoutMs, 600_000);
    assert.equal(s.quitTimeoutMs, 300_000);
    assert.equal(s.defaultPort, 25);
    assert.deepEqual(s.fallbackRelays, []);
    assert.equal(s.resolverAddress, '');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('does read main.cf values and the lmtp_* twins', () => {
  const { config, dir } = configWith([
    'myhostname = mx.example.org',
    'smtp_helo_name = helo.$mydomain',
    'mydomain = example.org',
    'smtp_connect_timeout = 5s',
    'smtp_data_done_timeout = 1m',
    'smtp_mail_timeout = 2m',
    'fallback_relay = [relay1.example.org], relay2.example.org:2525',
    'smtp_dns_resolver_address = 127.0.0.1:5353',
    'lmtp_lhlo_name = lhlo.example.org',
    'lmtp_tcp_port = 2424',
  ]);
  try {
    const s = loadSmtpSettings(config, false);
    assert.equal(s.heloName, 'helo.example.org');
    assert.equal(s.connectTimeoutMs, 5000);
    assert.equal(s.envelopeTimeoutMs, 300_000); // smtp_rcpt_timeout
    assert.equal(s.doneTimeoutMs, 60_000);
    assert.deepEqual(s.fallbackRelays, [
      '[relay1.example.org]',
      'relay2.example.org:2525',
    ]);
    assert.equal(s.resolverAddress, '127.0.0.1:5353');
    const l = loadSmtpSettings(config, true);
    assert.equal(l.heloName, 'lhlo.example.org');
    assert.equal(l.connectTimeoutMs, 0);
    assert.equal(l.defaultPort, 2424);
    assert.equal(l.resolverAddress, '127.0.0.1:5353');
    assert.deepEqual(l.fallbackRelays, []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
