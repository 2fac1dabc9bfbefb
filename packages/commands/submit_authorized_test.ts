// Tests of the authorized_*_users lists: login names, "!name"
// exclusions and lookup tables, the first match deciding.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../config/config';
import { isAuthorized } from './submit_authorized';

const CASES: Array<[string, string, boolean]> = [
  ['static:anyone', 'alice', true],
  ['alice, bob', 'bob', true],
  ['alice, bob', 'carol', false],
  ['!carol, static:anyone', 'carol', false],
  ['!carol, static:anyone', 'dave', true],
  ['inline:{ alice=ok }', 'alice', true],
  ['inline:{ alice=ok }', 'bob', false],
];

for (const [value, user, allowed] of CASES)
  test(`isAuthorized says ${allowed} for ${user} when the list is ${value}`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auth-'));
    try {
      fs.writeFileSync(
        path.join(dir, 'main.cf'),
        `authorized_submit_users = ${value}\n`,
      );
      const config = Config.load({ configDir: dir });
      assert.equal(
        await isAuthorized(config, 'authorized_submit_users', user),
        allowed,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
