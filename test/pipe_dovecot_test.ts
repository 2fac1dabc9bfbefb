// pipe(8) into Debian's real Dovecot LDA (dovecot-lda, also known as
// deliver), as the master.cf example "dovecot ... pipe flags=DRhu
// user=... argv=/usr/lib/dovecot/deliver -f ${sender} ..." does: mail
// over SMTP ends in the Maildir that Dovecot's mail_location names.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  isRoot,
  message,
  sleep,
  SmtpClient,
  startInstance,
  type Instance,
} from './harness';

const LDA = ['/usr/lib/dovecot/dovecot-lda', '/usr/lib/dovecot/deliver'].find(
  (f) => fs.existsSync(f),
);
const SKIP = !isRoot()
  ? 'needs root: pipe runs the LDA as user='
  : !LDA
    ? 'needs dovecot-lda (scripts/ci_packages.sh installs dovecot-core)'
    : false;

let mta: Instance;
let dir: string;

test.before(async () => {
  if (SKIP) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipe-lda-'));
  fs.chmodSync(dir, 0o777);
  const conf = path.join(dir, 'dovecot.conf');
  fs.writeFileSync(
    conf,
    [
      `base_dir = ${dir}/run`,
      `state_dir = ${dir}/state`,
      `log_path = ${dir}/lda.log`,
      'ssl = no',
      `mail_location = maildir:${dir}/Maildir`,
      'postmaster_address = postmaster@test.example',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  mta = await startInstance({
    main: {
      // Dovecot's own setup: the virtual domain goes to the LDA.
      virtual_mailbox_domains: 'lda.example',
      virtual_mailbox_maps: 'inline:{ bob@lda.example=bob/ }',
      virtual_transport: 'dovecot',
      dovecot_destination_recipient_limit: '1',
    },
    master: [
      `dovecot unix - n n - - pipe flags=DRhu user=nobody argv=${LDA} ` +
        `-c ${conf} -f \${sender} -a \${recipient}`,
    ],
  });
});

test.after(async () => {
  await mta?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test(
  'does store into a Maildir through dovecot-lda',
  { skip: SKIP },
  async () => {
    const smtp = await SmtpClient.connect(mta.smtpPort);
    await smtp.reply();
    await smtp.command('EHLO client.example');
    const reply = await smtp.send(
      'alice@test.example',
      ['Bob@LDA.example'],
      message('through the lda'),
    );
    smtp.close();
    assert.match(reply, /^250 /);
    const newDir = path.join(dir, 'Maildir', 'new');
    const deadline = Date.now() + 20_000;
    while (!fs.existsSync(newDir) || fs.readdirSync(newDir).length === 0) {
      if (Date.now() > deadline)
        throw new Error(`nothing stored:\n${mta.log()}`);
      await sleep(100);
    }
    const [name] = fs.readdirSync(newDir);
    const text = fs.readFileSync(path.join(newDir, name), 'utf8');
    assert.match(text, /^Return-Path: <alice@test\.example>\n/m);
    assert.match(text, /^Delivered-To: bob@lda\.example\n/m);
    assert.match(text, /^Subject: through the lda/m);
    await mta.waitForLog(
      /to=<Bob@LDA\.example>, relay=dovecot, .*status=sent \(delivered via dovecot service\)/,
    );
  },
);
