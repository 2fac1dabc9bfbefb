// Tests of the queue directory library on real files in a temporary
// folder: paths, create, commit, move and remove.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import nodeFs = require('node:fs');
import {
  QUEUE,
  QUEUE_TREE,
  commitQueueFile,
  createQueueFile,
  isReady,
  linkNoClobber,
  makeQueueTree,
  moveQueueFile,
  queuePath,
  removeQueueFile,
  type QueueConfig,
} from './mail_queue';
import { isLongQueueId, isShortQueueId, parseQueueId } from './queue_id';

// main.cf values as Config would give them.
function queueConfig(values: Record<string, string> = {}): QueueConfig {
  const all: Record<string, string> = {
    hash_queue_names: 'deferred, defer',
    hash_queue_depth: '1',
    enable_long_queue_ids: 'no',
    ...values,
  };
  return {
    list: (name) => all[name].split(/[\s,]+/).filter(Boolean),
    int: (name) => Number(all[name]),
    bool: (name) => all[name] === 'yes',
  };
}

function withQueue(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mail_queue_test-'));
    try {
      makeQueueTree(dir);
      await fn(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('does hash only hash_queue_names queues when building paths', () => {
  const table: Array<[string, string, Record<string, string>, string]> = [
    ['incoming', '4F9D62A1F3', {}, 'incoming/4F9D62A1F3'],
    ['deferred', '4F9D62A1F3', {}, 'deferred/4/4F9D62A1F3'],
    ['defer', '4F9D62A1F3', { hash_queue_depth: '2' }, 'defer/4/F/4F9D62A1F3'],
    ['deferred', '3Pt2mN2VXxznjll', {}, 'deferred/5/3Pt2mN2VXxznjll'],
    ['hold', 'ABCDEF1', { hash_queue_names: 'hold' }, 'hold/A/ABCDEF1'],
  ];
  for (const [queue, id, values, want] of table)
    assert.equal(queuePath('/q', queue, id, queueConfig(values)), `/q/${want}`);
});

test(
  'does make every queue with Postfix modes when making the tree',
  withQueue(async (dir) => {
    makeQueueTree(dir, true);
    for (const spec of QUEUE_TREE) {
      const mode = fs.statSync(path.join(dir, spec.name)).mode & 0o7777;
      assert.equal(mode, spec.mode, spec.name);
    }
    for (const name of Object.values(QUEUE))
      assert.ok(fs.statSync(path.join(dir, name)).isDirectory());
  }),
);

test(
  'does name the file by its inode when creating',
  withQueue(async (dir) => {
    const file = await createQueueFile(dir, 'incoming', queueConfig());
    const st = fs.fstatSync(file.fd, { bigint: true });
    fs.closeSync(file.fd);
    assert.ok(isShortQueueId(file.id), file.id);
    assert.equal(parseQueueId(file.id)?.inode, st.ino);
    assert.equal(file.path, path.join(dir, 'incoming', file.id));
    assert.equal(st.mode & 0o777n, 0o600n);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'incoming')), [file.id]);
  }),
);

test(
  'does use long IDs when enable_long_queue_ids is yes',
  withQueue(async (dir) => {
    const config = queueConfig({ enable_long_queue_ids: 'yes' });
    const file = await createQueueFile(dir, 'incoming', config);
    fs.closeSync(file.fd);
    assert.ok(isLongQueueId(file.id), file.id);
  }),
);

test(
  'does give distinct IDs when many files are created at once',
  withQueue(async (dir) => {
    const config = queueConfig();
    const files = await Promise.all(
      Array.from({ length: 50 }, () =>
        createQueueFile(dir, 'incoming', config),
      ),
    );
    for (const f of files) fs.closeSync(f.fd);
    assert.equal(new Set(files.map((f) => f.id)).size, 50);
    assert.equal(fs.readdirSync(path.join(dir, 'incoming')).length, 50);
  }),
);

test(
  'does set mode 0700 and report ready only after commit',
  withQueue(async (dir) => {
    const file = await createQueueFile(dir, 'incoming', queueConfig());
    fs.writeSync(file.fd, 'E\0');
    assert.equal(isReady(fs.statSync(file.path)), false);
    commitQueueFile(file.fd, file.path);
    fs.closeSync(file.fd);
    assert.equal(fs.statSync(file.path).mode & 0o777, 0o700);
    assert.equal(isReady(fs.statSync(file.path)), true);
    assert.equal(isReady(fs.statSync(path.join(dir, 'incoming'))), false);
  }),
);

// What commitQueueFile fsyncs: 'file' or 'directory' per call, seen on
// the module object itself (the import above is a read-only view of it).

function fsyncsOf(commit: () => void): string[] {
  const seen: string[] = [];
  const real = nodeFs.fsyncSync;
  const spy = test.mock.method(nodeFs, 'fsyncSync', (fd: number) => {
    seen.push(nodeFs.fstatSync(fd).isDirectory() ? 'directory' : 'file');
    real(fd);
  });
  try {
    commit();
  } finally {
    spy.mock.restore();
  }
  return seen;
}

test(
  'does fsync the file alone, as Postfix, unless told to sync its directory',
  withQueue(async (dir) => {
    const config = queueConfig();
    const a = await createQueueFile(dir, 'incoming', config);
    assert.deepEqual(
      fsyncsOf(() => commitQueueFile(a.fd, a.path)),
      ['file'],
    );
    const b = await createQueueFile(dir, 'incoming', config);
    assert.deepEqual(
      fsyncsOf(() => commitQueueFile(b.fd, b.path, 0, true)),
      ['file', 'directory'],
    );
    fs.closeSync(a.fd);
    fs.closeSync(b.fd);
  }),
);

test(
  'does keep the ID and create hash directories when moving',
  withQueue(async (dir) => {
    const config = queueConfig({ hash_queue_depth: '2' });
    const file = await createQueueFile(dir, 'incoming', config);
    commitQueueFile(file.fd, file.path);
    fs.closeSync(file.fd);
    const to = await moveQueueFile(
      dir,
      file.id,
      'incoming',
      'deferred',
      config,
    );
    assert.equal(to, queuePath(dir, 'deferred', file.id, config));
    assert.ok(fs.existsSync(to));
    assert.equal(fs.existsSync(file.path), false);
    assert.equal(await removeQueueFile(dir, 'deferred', file.id, config), true);
    assert.equal(
      await removeQueueFile(dir, 'deferred', file.id, config),
      false,
    );
  }),
);

test(
  'does fail when moving a file that is not there',
  withQueue(async (dir) => {
    await assert.rejects(
      moveQueueFile(dir, 'ABCDEF1', 'incoming', 'hold', queueConfig()),
      { code: 'ENOENT' },
    );
  }),
);

test(
  'does not replace a file when the ID name is taken',
  withQueue(async (dir) => {
    const temp = path.join(dir, 'incoming', 'temp');
    const taken = path.join(dir, 'incoming', 'ABCDEF1');
    fs.writeFileSync(temp, 'new');
    fs.writeFileSync(taken, 'old');
    assert.equal(linkNoClobber(temp, taken), false);
    assert.equal(fs.readFileSync(taken, 'utf8'), 'old');
    assert.ok(fs.existsSync(temp));
    const hashed = path.join(dir, 'deferred', 'A', 'ABCDEF2');
    assert.equal(linkNoClobber(temp, hashed), true);
    assert.equal(fs.readFileSync(hashed, 'utf8'), 'new');
    assert.equal(fs.existsSync(temp), false);
  }),
);
