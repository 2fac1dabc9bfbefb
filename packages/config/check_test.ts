// Tests of checkConfig (check.ts), the check behind "postfix check":
// both files in a temporary folder with a daemon_directory of our own.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkConfig } from './check';
import { Config } from './config';

function withFiles(
  main: string,
  master: string,
  body: (dir: string) => void,
): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'check-test-'));
  try {
    const daemons = path.join(dir, 'daemons');
    for (const name of ['smtpd', 'pickup']) {
      fs.mkdirSync(path.join(daemons, name), { recursive: true });
      fs.writeFileSync(path.join(daemons, name, `${name}.js`), '');
    }
    const text = `daemon_directory = ${daemons}\n${main}`;
    fs.writeFileSync(path.join(dir, 'main.cf'), text);
    fs.writeFileSync(path.join(dir, 'master.cf'), master);
    body(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const MASTER = [
  'smtp inet n - n - - smtpd',
  'pickup unix n - n 60 1 pickup',
  '',
].join('\n');

test('passes a good configuration without warnings', () => {
  withFiles('compatibility_level = 3.6\n', MASTER, (dir) => {
    assert.deepEqual(checkConfig(Config.load({ configDir: dir })), []);
  });
});

test('stops at a bad main.cf value with file and line', () => {
  withFiles('max_use = lots\n', MASTER, (dir) => {
    assert.throws(() => checkConfig(Config.load({ configDir: dir })), {
      message: `${dir}/main.cf, line 2: bad numerical configuration: max_use = lots`,
    });
  });
});

test('stops at a bad -o value with the master.cf line', () => {
  const master = MASTER + 'relay unix - - n - - smtpd\n  -o max_idle=soon\n';
  withFiles('', master, (dir) => {
    assert.throws(() => checkConfig(Config.load({ configDir: dir })), {
      message:
        `${dir}/master.cf, line 3: ` +
        'parameter max_idle: bad time value or unit: soon',
    });
  });
});

test('stops at a command that is not installed', () => {
  withFiles('', MASTER + 'qmgr unix n - n 300 1 qmgr\n', (dir) => {
    assert.throws(() => checkConfig(Config.load({ configDir: dir })), {
      message: new RegExp(
        `^${dir}/master\\.cf, line 3: unknown command: qmgr: `,
      ),
    });
  });
});

test('warns about unused names in main.cf and -o, not transport ones', () => {
  const main = 'pickup_destination_concurrency_limit = 2\nstray = 1\n';
  const master = MASTER + 'x unix - - n - - smtpd -o other_stray=2\n';
  withFiles(main, master, (dir) => {
    assert.deepEqual(checkConfig(Config.load({ configDir: dir })), [
      `${dir}/master.cf: unused parameter: other_stray=2`,
      `${dir}/main.cf: unused parameter: stray=1`,
    ]);
  });
});
