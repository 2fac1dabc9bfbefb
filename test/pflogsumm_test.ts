// Log analysers read our log as Postfix's: Debian's pflogsumm counts the
// messages a test sent, delivered and rejected, from our maillog_file.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import { message, SmtpClient, startInstance } from './harness';

const PFLOGSUMM = '/usr/sbin/pflogsumm';
const installed =
  cp.spawnSync('sh', ['-c', `test -x ${PFLOGSUMM}`]).status === 0;

// "  3   received" in pflogsumm's Grand Totals.
function total(report: string, what: string): number {
  const m = new RegExp(`^\\s*(\\d+)\\s+${what}\\s*$`, 'm').exec(report);
  return m ? Number(m[1]) : -1;
}

test(
  'pflogsumm counts what was received, delivered and rejected',
  { skip: !installed && 'pflogsumm is not installed (.ci/run installs it)' },
  async () => {
    const mta = await startInstance({
      main: {
        smtpd_recipient_restrictions:
          'check_recipient_access inline:{nobody@localhost=REJECT}',
      },
    });
    try {
      const smtp = await SmtpClient.connect(mta.smtpPort);
      await smtp.reply();
      await smtp.command('EHLO client.test.example');
      for (const [i, user] of ['ann', 'bob', 'ann'].entries())
        assert.match(
          await smtp.send(
            `s${i}@test.example`,
            [`${user}@localhost`],
            message(`m${i}`),
          ),
          /^250 /,
        );
      await smtp.command('MAIL FROM:<x@test.example>');
      assert.match(await smtp.command('RCPT TO:<nobody@localhost>'), /^554 /);
      await smtp.command('QUIT');
      await mta.waitForMaildir('ann', 2);
      await mta.waitForMaildir('bob', 1);
      await mta.waitForLog(/(removed[\s\S]*){3}/);
      const out = cp.spawnSync(PFLOGSUMM, ['--smtpd_stats', mta.logFile], {
        encoding: 'utf8',
      });
      assert.equal(out.status, 0, out.stderr);
      assert.equal(total(out.stdout, 'received'), 3, out.stdout);
      assert.equal(total(out.stdout, 'delivered'), 3, out.stdout);
      assert.equal(total(out.stdout, 'rejected \\(\\d+%\\)'), 1, out.stdout);
      assert.equal(total(out.stdout, 'senders'), 3, out.stdout);
      assert.equal(total(out.stdout, 'recipients'), 2, out.stdout);
    } finally {
      await mta.destroy();
    }
  },
);
