// receive_override_options turned into cleanup flags and smtpd's
// unknown-recipient switch, one case per option word.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../../packages/config/config';
import { CLEANUP_FLAG } from '../../packages/ipc/cleanup_client';
import {
  cleanupFlags,
  RECEIVE_OVERRIDE,
  receiveOverrides,
} from './cleanup_input_transp';

const ALL =
  CLEANUP_FLAG.FILTER |
  CLEANUP_FLAG.BCC_OK |
  CLEANUP_FLAG.MAP_OK |
  CLEANUP_FLAG.MILTER;

const CASES: Array<[string, number, number]> = [
  ['', ALL, 0],
  [
    'no_address_mappings',
    CLEANUP_FLAG.FILTER | CLEANUP_FLAG.MILTER,
    RECEIVE_OVERRIDE.NO_ADDRESS_MAPPINGS,
  ],
  [
    'no_header_body_checks',
    ALL & ~CLEANUP_FLAG.FILTER,
    RECEIVE_OVERRIDE.NO_HEADER_BODY_CHECKS,
  ],
  ['no_milters', ALL & ~CLEANUP_FLAG.MILTER, RECEIVE_OVERRIDE.NO_MILTERS],
  ['no_unknown_recipient_checks', ALL, RECEIVE_OVERRIDE.NO_UNKNOWN_RCPT],
  [
    'no_milters, no_header_body_checks',
    CLEANUP_FLAG.BCC_OK | CLEANUP_FLAG.MAP_OK,
    RECEIVE_OVERRIDE.NO_MILTERS | RECEIVE_OVERRIDE.NO_HEADER_BODY_CHECKS,
  ],
  ['bogus_word', ALL, 0],
];

function configWith(value: string): Config {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'transp-'));
  try {
    const text = `receive_override_options = ${value}\n`;
    fs.writeFileSync(path.join(dir, 'main.cf'), text);
    return Config.load({ configDir: dir });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

for (const [value, flags, bits] of CASES) {
  test(`cleanupFlags does clear the right flags for "${value}"`, () => {
    const config = configWith(value);
    assert.equal(cleanupFlags(config, ALL), flags);
    assert.equal(receiveOverrides(config), bits);
  });
}
