// Issue 5 point 3: the lmtp client (the smtp agent started as service
// lmtp by master) against a real Dovecot LMTP server storing into
// Maildirs, over lmtp:unix:/path and lmtp:inet:host:port, with each
// recipient's own reply after DATA.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  freePort,
  message,
  queueIdOf,
  SmtpClient,
  startInstance,
} from './harness';
import type { Instance } from './harness';
import { dovecotAvailable, startDovecot, type Dovecot } from './sink/dovecot';

const SKIP = dovecotAvailable()
  ? false
  : 'needs root and dovecot (scripts/ci_packages.sh installs dovecot-lmtpd)';

let mta: Instance;
let dovecot: Dovecot;

test.before(async () => {
  if (SKIP) return;
  dovecot = await startDovecot(await freePort(), {
    bob: true,
    carol: false,
    dave: true,
  });
  const routes = [
    `unix.example=lmtp:unix:${dovecot.socket}`,
    `inet.example=lmtp:inet:127.0.0.1:${dovecot.port}`,
  ];
  mta = await startInstance({
    main: { transport_maps: `inline:{ ${routes.join(', ')} }` },
    master: ['lmtp unix - - n - - smtp'],
  });
});

test.after(async () => {
  await mta?.destroy();
  await dovecot?.stop();
});

async function submit(to: string[], subject: string): Promise<string> {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO client.test.example');
  const reply = await smtp.send('alice@localhost', to, message(subject));
  await smtp.command('QUIT');
  return queueIdOf(reply);
}

function line(id: string, to: string, rest: string): RegExp {
  return new RegExp(
    `: ${id}: to=<${to.replace(/\./g, '\\.')}>, relay=[^,]+, (?:conn_use=\\d+, )?` +
      `delay=[\\d.]+, delays=[\\d./]+, ${rest}`,
  );
}

test(
  'does store, defer and bounce per recipient over lmtp:unix',
  { skip: SKIP },
  async () => {
    const to = [
      'bob@unix.example',
      'carol@unix.example',
      'nobody@unix.example',
    ];
    const id = await submit(to, 'over unix');
    await mta.waitForLog(
      line(id, 'nobody@unix.example', 'dsn=5\\.1\\.1, status=bounced'),
    );
    const log = mta.log();
    assert.match(
      log,
      line(
        id,
        'bob@unix.example',
        'dsn=2\\.0\\.0, status=sent \\(250 2\\.0\\.0 <bob@unix\\.example> \\S+ Saved\\)',
      ),
    );
    assert.match(
      log,
      line(
        id,
        'carol@unix.example',
        'dsn=4\\.2\\.0, status=deferred \\(host \\S+ said: 451 4\\.2\\.0 <carol@unix\\.example> .*\\(in reply to end of DATA command\\)\\)',
      ),
    );
    assert.match(
      log,
      /said: 550 5\.1\.1 <nobody@unix\.example> User doesn't exist.*\(in reply to RCPT TO command\)/,
    );
    assert.match(
      log,
      new RegExp(
        `relay=mail\\.test\\.example\\[${dovecot.socket.replace(/\./g, '\\.')}\\]`,
      ),
    );
    const [stored] = dovecot.maildir('bob');
    assert.match(stored, /^Subject: over unix\r?$/m);
  },
);

test('does deliver over lmtp:inet:host:port', { skip: SKIP }, async () => {
  const id = await submit(['dave@inet.example'], 'over inet');
  await mta.waitForLog(
    line(id, 'dave@inet.example', 'dsn=2\\.0\\.0, status=sent'),
  );
  assert.match(
    mta.log(),
    new RegExp(
      `${id}: to=<dave@inet\\.example>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${dovecot.port},`,
    ),
  );
  assert.equal(dovecot.maildir('dave').length, 1);
});
