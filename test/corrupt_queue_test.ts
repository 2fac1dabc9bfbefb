// Damaged queue files in a running instance (real master, qmgr, local):
// truncated, without the final E record, with an unknown record type,
// and with the wrong mode, placed in incoming/ and deferred/. qmgr must
// move the broken ones to corrupt/ with a warning, leave a file that is
// not ready alone, and keep delivering other mail; a damaged content
// record is saved there on the retry; postsuper removes what is there.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Config } from '../packages/config/config';
import { makeQueueId, queuePath } from '../packages/queue/mail_queue';
import { sendTrigger } from '../packages/ipc/ipc';
import { buildQueueFile } from '../services/qmgr/qmgr_fixture';
import {
  Instance,
  SmtpClient,
  isRoot,
  message,
  queueIdOf,
  startInstance,
} from './harness';

interface Damage {
  name: string;
  make(): Buffer;
  mode?: number;
  corrupt: boolean; // expected in corrupt/; else left where it is
}

const SPEC = {
  sender: 'sender@test.example',
  recipients: [{ address: 'alice@localhost' }],
  lines: ['Subject: damaged', '', 'hello'],
};

const DAMAGES: Damage[] = [
  {
    name: 'truncated',
    make: () => {
      const whole = buildQueueFile(SPEC);
      return whole.subarray(0, Math.floor(whole.length / 2));
    },
    corrupt: true,
  },
  {
    name: 'without the final E record',
    make: () => buildQueueFile({ ...SPEC, omitEnd: true }),
    corrupt: true,
  },
  {
    name: 'with an unknown record type in the envelope',
    make: () => retype(buildQueueFile(SPEC), SPEC.sender),
    corrupt: true,
  },
  {
    name: 'with the wrong mode (0600: not committed)',
    make: () => buildQueueFile(SPEC),
    mode: 0o600,
    corrupt: false,
  },
];

// Give the record that holds `data` (under 128 bytes, so its length is
// one byte) a type byte that no record has.
function retype(file: Buffer, data: string): Buffer {
  const buf = Buffer.from(file);
  buf[buf.indexOf(data) - 2] = '~'.charCodeAt(0);
  return buf;
}

function postfixIds(): [number, number] {
  const id = (flag: string) =>
    Number(cp.execFileSync('id', [flag, 'postfix'], { encoding: 'utf8' }));
  return [id('-u'), id('-g')];
}

let serial = 1;

// A file under a fresh queue ID, owned by mail_owner as cleanup's are.
function place(mta: Instance, queue: string, d: Damage): string {
  const config = Config.load({ configDir: mta.configDir });
  const when = { sec: Math.floor(Date.now() / 1000), usec: serial * 7919 };
  const id = makeQueueId(when, 0x7000 + serial++, config);
  const file = queuePath(mta.queueDir, queue, id, config);
  makeOwnedDirs(path.join(mta.queueDir, queue), path.dirname(file));
  fs.writeFileSync(file, d.make(), { mode: 0o600 });
  if (isRoot()) fs.chownSync(file, ...postfixIds());
  fs.chmodSync(file, d.mode ?? 0o700);
  if (queue === 'deferred') fs.utimesSync(file, 0, 0); // due now
  return id;
}

// Hashed subdirectories as postfix would have made them: its own.
function makeOwnedDirs(top: string, dir: string): void {
  if (dir === top || fs.existsSync(dir)) return;
  makeOwnedDirs(top, path.dirname(dir));
  fs.mkdirSync(dir, 0o700);
  if (isRoot()) fs.chownSync(dir, ...postfixIds());
}

async function sendGood(mta: Instance): Promise<string> {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO client.test.example');
  const r = await smtp.send(
    'sender@test.example',
    ['alice@localhost'],
    message('good'),
  );
  await smtp.command('QUIT');
  smtp.close();
  return queueIdOf(r);
}

function ids(mta: Instance, queue: string): string[] {
  return mta.queueFiles(queue).map((f) => path.basename(f));
}

test('qmgr does save damaged queue files to corrupt/ and keeps mail flowing', async () => {
  const mta = await startInstance();
  try {
    const placed: Array<{ id: string; queue: string; d: Damage }> = [];
    for (const queue of ['incoming', 'deferred'])
      for (const d of DAMAGES)
        placed.push({ id: place(mta, queue, d), queue, d });
    await sendTrigger(mta.queueDir, 'public', 'qmgr', 'A');
    await sendTrigger(mta.queueDir, 'public', 'qmgr', 'I');

    const good = await sendGood(mta);
    await mta.waitForLog(new RegExp(`${good}: removed`), 20_000);

    for (const p of placed.filter((x) => x.d.corrupt)) {
      await mta.waitForLog(
        new RegExp(
          `postfix/qmgr\\[\\d+\\]: warning: saving corrupt file "${p.id}" from queue "active" to queue "corrupt"`,
        ),
        20_000,
      );
    }
    const corrupt = ids(mta, 'corrupt').sort();
    const want = placed.filter((p) => p.d.corrupt).map((p) => p.id);
    assert.deepEqual(corrupt, want.sort());
    for (const p of placed.filter((x) => !x.d.corrupt))
      assert.ok(ids(mta, p.queue).includes(p.id), `${p.id} left alone`);
    assert.equal(mta.maildir('alice').length, 1, 'only the good message');
  } finally {
    await mta.destroy();
  }
});

// A record type that no record has, inside the message content: qmgr
// reads only the envelope, so the delivery agent is the first to find
// it and defers; when the file comes back from deferred/, qmgr reads its
// content (services/qmgr/qmgr_content_check.ts) and saves it.
test('a damaged content record does send the file to corrupt/ on its retry', async () => {
  const mta = await startInstance({
    main: {
      minimal_backoff_time: '1s',
      maximal_backoff_time: '2s',
      queue_run_delay: '1s',
    },
  });
  try {
    const d: Damage = {
      name: 'content',
      make: () => retype(buildQueueFile(SPEC), 'hello'),
      corrupt: true,
    };
    const id = place(mta, 'incoming', d);
    await sendTrigger(mta.queueDir, 'public', 'qmgr', 'I');
    await mta.waitForLog(new RegExp(`${id}: .*status=deferred`), 20_000);
    await mta.waitForLog(
      new RegExp(
        `qmgr\\[\\d+\\]: warning: ${id}: bad content record: ~\n` +
          `.*warning: saving corrupt file "${id}"`,
      ),
      20_000,
    );
    assert.deepEqual(ids(mta, 'corrupt'), [id]);
    assert.equal(mta.maildir('alice').length, 0);
  } finally {
    await mta.destroy();
  }
});

test('postsuper -d ALL corrupt and -d ID corrupt do remove the files saved in corrupt/', async () => {
  const mta = await startInstance();
  try {
    const placed = [DAMAGES[0], DAMAGES[1]].map((d) =>
      place(mta, 'incoming', d),
    );
    await sendTrigger(mta.queueDir, 'public', 'qmgr', 'I');
    for (const id of placed)
      await mta.waitForLog(new RegExp(`saving corrupt file "${id}"`), 20_000);

    const one = mta.command('postsuper', ['-d', placed[0], 'corrupt']);
    assert.equal(one.code, 0, one.stderr);
    assert.match(
      one.stderr,
      new RegExp(`^postsuper: ${placed[0]}: removed$`, 'm'),
    );
    assert.match(one.stderr, /^postsuper: Deleted: 1 message$/m);
    assert.deepEqual(ids(mta, 'corrupt'), [placed[1]]);

    const all = mta.command('postsuper', ['-d', 'ALL', 'corrupt']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stderr, /Deleted: 1 message$/m);
    assert.deepEqual(ids(mta, 'corrupt'), []);
  } finally {
    await mta.destroy();
  }
});

test('postsuper does refuse to move files out of corrupt/', async () => {
  const mta = await startInstance({ start: false });
  try {
    const r = mta.command('postsuper', ['-r', 'ALL', 'corrupt']);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /fatal: invalid directory name: corrupt/);
  } finally {
    await mta.destroy();
  }
});
