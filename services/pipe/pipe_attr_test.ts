// Unit tests of pipe(8)'s master.cf command attributes: what is
// required, what is refused, and the defaults.

import test from 'node:test';
import assert from 'node:assert/strict';
import { parsePipeAttr, PipeAttrError } from './pipe_attr';

const D = { mailOwner: 'postfix', queueDir: '/var/spool/postfix' };
const split = (s: string) => s.split(' ');

const BAD: Array<[string, RegExp]> = [
  ['flags=R argv=/bin/cat', /missing user= command-line attribute/],
  ['user=root argv=/bin/cat', /specifies root privileges/],
  ['user=nobody:root argv=/bin/cat', /specifies root privileges/],
  ['user=nobody flags=Z argv=/bin/cat', /unknown flag: Z/],
  ['user=nobody', /missing argv= command-line attribute/],
  ['user=nobody size=big argv=/bin/cat', /size= .*bad value: big/],
  ['user=nosuchuserhere argv=/bin/cat', /unknown user: nosuchuserhere/],
  ['user=nobody colour=red argv=/bin/cat', /unknown attribute name: colour/],
  ['user=nobody chroot=/x argv=/bin/cat', /chroot= .* not supported/],
];

for (const [args, why] of BAD)
  test(`does refuse "${args}"`, () => {
    assert.throws(
      () => parsePipeAttr(split(args), D),
      (err: Error) => {
        assert.ok(err instanceof PipeAttrError);
        assert.match(err.message, why);
        return true;
      },
    );
  });

test('does refuse the mail system owner as user=', () => {
  const d = { ...D, mailOwner: 'nobody' };
  assert.throws(
    () => parsePipeAttr(split('user=nobody argv=/bin/cat'), d),
    /specifies mail system owner nobody/,
  );
});

test('does keep Postfix defaults when attributes are left out', () => {
  const a = parsePipeAttr(split('user=nobody argv=/bin/cat -u ${user}'), D);
  assert.deepEqual(a.argv, ['/bin/cat', '-u', '${user}']);
  assert.equal(a.eol, '\n');
  assert.equal(a.nullSender, 'MAILER-DAEMON');
  assert.equal(a.size, 0);
  assert.equal(a.directory, D.queueDir);
  assert.notEqual(a.rights.uid, 0);
});

test('does decode eol= escapes and take an empty null_sender=', () => {
  const a = parsePipeAttr(
    split('user=nobody eol=\\r\\n null_sender= argv=/bin/cat'),
    D,
  );
  assert.equal(a.eol, '\r\n');
  assert.equal(a.nullSender, '');
});
