// Tests for the access policy pieces that need no session: the open
// relay guard at startup and mynetworks matching.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../../packages/config/config';
import { buildNetworks, matchNetworks, relayGuardError } from './smtpd_check';
import { prepareSmtpd, SmtpdConfigError } from './smtpd_service';

const GUARD: Array<[string, string, boolean]> = [
  [
    'permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination',
    '',
    true,
  ],
  ['', 'permit_mynetworks, reject_unauth_destination', true],
  ['permit_mynetworks', '', false],
  ['', '', false],
  ['permit_mynetworks permit', 'permit', false],
];

for (const [relay, rcpt, ok] of GUARD) {
  test(`relayGuardError does ${ok ? 'accept' : 'refuse'} relay="${relay}" recipient="${rcpt}"`, () => {
    const split = (s: string) => s.split(/[\s,]+/).filter(Boolean);
    const err = relayGuardError(split(relay), split(rcpt));
    assert.equal(err === '', ok);
    if (!ok)
      assert.match(
        err,
        /^in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least one working instance of: reject_unauth_destination, /,
      );
  });
}

function withMainCf(
  text: string,
  fn: (config: Config, dir: string) => void,
): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtpd-check-'));
  try {
    fs.writeFileSync(path.join(dir, 'main.cf'), text);
    fn(Config.load({ configDir: dir }), dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('prepareSmtpd does refuse to start when neither list stops relaying', () => {
  withMainCf(
    'smtpd_relay_restrictions = permit_mynetworks\n',
    (config, dir) => {
      assert.throws(() => prepareSmtpd(config, dir), SmtpdConfigError);
    },
  );
});

test('prepareSmtpd does start with the shipped defaults (not an open relay)', () => {
  withMainCf('myhostname = mx.example.com\n', (config, dir) => {
    assert.ok(prepareSmtpd(config, dir).check);
  });
});

test('prepareSmtpd does refuse an unknown smtpd_forbid_bare_newline value', () => {
  withMainCf('smtpd_forbid_bare_newline = maybe\n', (config, dir) => {
    assert.throws(() => prepareSmtpd(config, dir), /smtpd_forbid_bare_newline/);
  });
});

const NETS: Array<[string, string, boolean]> = [
  ['127.0.0.0/8', '127.1.2.3', true],
  ['127.0.0.0/8', '128.0.0.1', false],
  ['[::1]/128', '::1', true],
  ['[::1]/128', '::2', false],
  ['192.0.2.7', '192.0.2.7', true],
  ['192.0.2.7', '192.0.2.8', false],
  ['[2001:db8::]/32', '2001:db8:1::5', true],
];

for (const [net, addr, want] of NETS) {
  test(`matchNetworks does ${want ? '' : 'not '}match ${addr} in ${net}`, () => {
    assert.equal(matchNetworks(buildNetworks([net]), addr), want);
  });
}
