// Tests of the skeleton's getopt-style parsing of master's arguments.

import test from 'node:test';
import assert from 'node:assert/strict';
import { DaemonArgsError, parseDaemonArgs } from './daemon_args';

test('parses the options master gives and leaves the rest', () => {
  const args = parseDaemonArgs(
    [
      '-n',
      'relay',
      '-t',
      'unix',
      '-c',
      '/etc/x',
      '-u',
      '-vv',
      '-o',
      'syslog_name=postfix/relay',
      '-omax_idle=5s',
      'flags=R',
      'argv=/bin/x',
    ],
    'smtp',
  );
  assert.equal(args.serviceName, 'relay');
  assert.equal(args.serviceType, 'unix');
  assert.equal(args.configDir, '/etc/x');
  assert.equal(args.unpriv, true);
  assert.equal(args.verbose, 2);
  assert.deepEqual(args.overrides, {
    syslog_name: 'postfix/relay',
    max_idle: '5s',
  });
  assert.deepEqual(args.rest, ['flags=R', 'argv=/bin/x']);
});

test('defaults the service name to the program name', () => {
  const args = parseDaemonArgs([], 'cleanup');
  assert.equal(args.serviceName, 'cleanup');
  assert.equal(args.verbose, 0);
});

test('rejects unknown options and missing values', () => {
  assert.throws(() => parseDaemonArgs(['-q'], 'x'), DaemonArgsError);
  assert.throws(() => parseDaemonArgs(['-n'], 'x'), DaemonArgsError);
  assert.throws(() => parseDaemonArgs(['-o', 'novalue'], 'x'), DaemonArgsError);
});
