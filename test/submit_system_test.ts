// Local submission through the whole running system: sendmail, postdrop,
// pickup (woken by postdrop's trigger), cleanup, qmgr and local delivery
// to a Maildir; and mail dropped while the system is stopped goes out
// once `postfix start` runs pickup.

import test from 'node:test';
import assert from 'node:assert/strict';
import { makeInstance, startInstance, waitForPort } from './harness';

test('sendmail mail reaches the Maildir when the system runs', async () => {
  const mta = await startInstance();
  try {
    const r = mta.command(
      'sendmail',
      ['-f', 'me@x.example', 'alice@mail.test.example'],
      'Subject: local\n\nhello\n',
    );
    assert.equal(r.code, 0, r.stderr);
    const [msg] = await mta.waitForMaildir('alice', 1);
    assert.match(
      msg,
      /^Received: by mail\.test\.example \(Postfix, from userid \d+\)/m,
    );
    assert.match(msg, /\nSubject: local\n/);
    assert.match(
      mta.log(),
      /postfix\/pickup\[\d+\]: [0-9A-F]+: uid=\d+ from=<me@x\.example>/,
    );
  } finally {
    await mta.destroy();
  }
});

test('sendmail mail waits in maildrop while the system is stopped and goes out on start', async () => {
  const mta = await makeInstance({ start: false });
  try {
    const start = () => {
      const r = mta.postfix('start');
      assert.equal(r.code, 0, r.stderr);
    };
    start();
    await waitForPort(mta.smtpPort);
    mta.postfix('stop');
    for (let i = 0; i < 100 && mta.masterPid(); i++)
      await new Promise((r) => setTimeout(r, 100));
    const r = mta.command(
      'sendmail',
      ['alice@mail.test.example'],
      'Subject: while down\n\nb\n',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(mta.queueFiles('maildrop').length, 1);
    start();
    const [msg] = await mta.waitForMaildir('alice', 1);
    assert.match(msg, /Subject: while down/);
    assert.equal(mta.queueFiles('maildrop').length, 0);
  } finally {
    await mta.destroy();
  }
});
