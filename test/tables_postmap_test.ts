// End-to-end tests of postmap, postalias and newaliases run as child
// processes on real files, and of daemons' view of what they built
// (dictOpen on hash:, lmdb:, cdb:). With POSTFIX_SBIN naming a folder
// with Postfix's own postmap (and its lmdb/cdb plugins configured in
// POSTFIX_CONFIG), files are also checked against real Postfix.

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dictOpen } from '../packages/tables/dict';
import { initLog } from '../packages/log/log';
import { LmdbReader } from '../packages/tables/lmdb_reader';

initLog({ processName: 'tables_postmap_test', sinks: [] });

const COMMANDS = path.join(__dirname, '..', 'packages', 'commands');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postmap-'));
const configDir = path.join(dir, 'etc');
fs.mkdirSync(configDir);
fs.writeFileSync(
  path.join(configDir, 'main.cf'),
  [
    'myhostname = mx.example.com',
    `alias_database = hash:${dir}/aliases`,
    'default_database_type = lmdb',
  ].join('\n') + '\n',
);
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], input = ''): Run {
  const result = spawnSync(
    process.execPath,
    [path.join(COMMANDS, `${command}.js`), '-c', configDir, ...args],
    { input, encoding: 'utf8', timeout: 20_000 },
  );
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
  };
}

function write(name: string, lines: string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, lines.join('\n') + '\n', { mode: 0o640 });
  return file;
}

const MAP_LINES = [
  '# transport table',
  'Example.COM     smtp:[relay.example]',
  'user@example.com  local:',
  'long            first',
  '   second',
  '"a key"         quoted',
  'example.com     duplicate',
  'novalue',
];

for (const type of ['lmdb', 'cdb']) {
  test(`does build and query ${type} when postmap is run`, () => {
    const file = write(`map-${type}`, MAP_LINES);
    const built = run('postmap', [`${type}:${file}`]);
    assert.equal(built.status, 0, built.stderr);
    assert.match(
      built.stderr,
      new RegExp(
        `postmap: warning: ${type}:${file}: duplicate entry: "example.com"`,
      ),
    );
    assert.match(
      built.stderr,
      new RegExp(
        `postmap: warning: ${file}, line 8: expected format: key whitespace value`,
      ),
    );
    assert.equal(fs.statSync(`${file}.${type}`).mode & 0o777, 0o640);

    const found = run('postmap', ['-q', 'EXAMPLE.com', `${type}:${file}`]);
    assert.deepEqual(
      [found.status, found.stdout],
      [0, 'smtp:[relay.example]\n'],
    );
    assert.equal(run('postmap', ['-q', 'nope', `${type}:${file}`]).status, 1);
    assert.equal(
      run('postmap', [`-qlong`, `${type}:${file}`]).stdout,
      'first second\n',
    );
    assert.equal(
      run('postmap', ['-q', 'a key', `${type}:${file}`]).stdout,
      'quoted\n',
    );

    const many = run(
      'postmap',
      ['-q', '-', `${type}:${file}`],
      'example.com\nmissing\nlong\n',
    );
    assert.deepEqual(
      [many.status, many.stdout],
      [0, 'example.com\tsmtp:[relay.example]\nlong\tfirst second\n'],
    );

    const listed = run('postmap', ['-s', `${type}:${file}`])
      .stdout.split('\n')
      .filter(Boolean)
      .sort();
    assert.deepEqual(listed, [
      'a key\tquoted',
      'example.com\tsmtp:[relay.example]',
      'long\tfirst second',
      'user@example.com\tlocal:',
    ]);
  });

  test(`does delete and add entries when postmap -d and -i run on ${type}`, () => {
    const file = write(`edit-${type}`, ['a 1', 'b 2']);
    assert.equal(run('postmap', [`${type}:${file}`]).status, 0);
    assert.equal(run('postmap', ['-d', 'a', `${type}:${file}`]).status, 0);
    assert.equal(run('postmap', ['-d', 'a', `${type}:${file}`]).status, 1);
    const added = run('postmap', ['-i', `${type}:${file}`], 'c 3\nb 22\n');
    assert.equal(added.status, 0);
    assert.match(added.stderr, /duplicate entry: "b"/);
    assert.equal(run('postmap', ['-q', 'c', `${type}:${file}`]).stdout, '3\n');
    assert.equal(run('postmap', ['-q', 'b', `${type}:${file}`]).stdout, '2\n');
    assert.equal(run('postmap', ['-q', 'a', `${type}:${file}`]).status, 1);
  });
}

test('does replace or silently skip duplicates when -r or -w is given', () => {
  const file = write('dups', ['k first', 'k second']);
  const replaced = run('postmap', ['-r', file]);
  assert.equal(replaced.stderr, '');
  assert.equal(run('postmap', ['-q', 'k', file]).stdout, 'second\n');
  const ignored = run('postmap', ['-w', file]);
  assert.equal(ignored.stderr, '');
  assert.equal(run('postmap', ['-q', 'k', file]).stdout, 'first\n');
});

test('does keep the key case when postmap -f builds and queries', () => {
  const file = write('fold', ['MixedCase value']);
  assert.equal(run('postmap', ['-f', `cdb:${file}`]).status, 0);
  assert.equal(
    run('postmap', ['-f', '-q', 'MixedCase', `cdb:${file}`]).stdout,
    'value\n',
  );
  assert.equal(
    run('postmap', ['-f', '-q', 'mixedcase', `cdb:${file}`]).status,
    1,
  );
});

test('does query pattern and inline tables when postmap -q is given them', () => {
  const file = write('regexp', ['/^(.*)@old$/ $1@new']);
  assert.equal(
    run('postmap', ['-q', 'joe@old', `regexp:${file}`]).stdout,
    'joe@new\n',
  );
  assert.equal(
    run('postmap', ['-q', 'b', 'inline:{a=1}', 'inline:{b=2}']).stdout,
    '2\n',
  );
});

const ERROR_CASES = [
  {
    args: ['/nonexistent/map'],
    stderr:
      'postmap: fatal: open /nonexistent/map: No such file or directory\n',
  },
  {
    args: ['-q', 'x', '/nonexistent/map'],
    stderr:
      'postmap: fatal: open database /nonexistent/map.lmdb: No such file or directory\n',
  },
  {
    args: ['-Z', 'x'],
    stderr:
      "postmap: invalid option -- 'Z'\npostmap: fatal: usage: postmap [-bfFhimnNoprsuUvw] [-c config_dir] [-d key] [-q key] [map_type:]file...\n",
  },
  {
    args: [],
    stderr:
      'postmap: fatal: usage: postmap [-bfFhimnNoprsuUvw] [-c config_dir] [-d key] [-q key] [map_type:]file...\n',
  },
  {
    args: ['-s', 'regexp:/x'],
    stderr:
      'postmap: fatal: table regexp:/x: sequence operation is not supported\n',
  },
];

for (const c of ERROR_CASES) {
  test(`does exit 1 with Postfix's message when postmap ${c.args.join(' ') || '(no args)'} fails`, () => {
    const got = run('postmap', c.args);
    assert.deepEqual([got.status, got.stderr], [1, c.stderr]);
  });
}

const ALIAS_LINES = [
  '# aliases',
  'Root: admin, "b c"@x.example',
  '  continued',
  '"Quoted Name": q',
  'root: duplicate',
  'bad line',
  'postmaster: root',
];

test('does build aliases with the sentinel when postalias is run', () => {
  const file = write('aliases', ALIAS_LINES);
  const built = run('postalias', [`lmdb:${file}`]);
  assert.equal(built.status, 0);
  assert.match(
    built.stderr,
    new RegExp(`postalias: warning: lmdb:${file}: duplicate entry: "root"`),
  );
  assert.match(
    built.stderr,
    new RegExp(`postalias: warning: ${file}, line 6: need name:value pair`),
  );
  assert.equal(
    run('postalias', ['-q', 'ROOT', `lmdb:${file}`]).stdout,
    'admin, "b c"@x.example continued\n',
  );
  assert.equal(
    run('postalias', ['-q', 'quoted name', `lmdb:${file}`]).stdout,
    'q\n',
  );
  const listed = run('postalias', ['-s', `lmdb:${file}`]).stdout;
  assert.match(listed, /^@:\t@$/m);
  assert.match(listed, /^YP_MASTER_NAME:\tmx\.example\.com$/m);
  assert.match(listed, /^YP_LAST_MODIFIED:\t\d+$/m);
});

test('does rebuild $alias_database when newaliases or bare postalias runs', async () => {
  const file = write('aliases', ['root: first']);
  const built = run('newaliases', []);
  assert.equal(built.status, 0, built.stderr);
  assert.match(
    built.stderr,
    /hash:.*Berkeley DB is not available in this build; using lmdb:/,
  );
  assert.ok(fs.existsSync(`${file}.lmdb`));
  const dict = dictOpen(`hash:${file}`);
  assert.equal(await dict.lookup('root'), 'first');
  dict.close();

  write('aliases', ['root: second']);
  assert.equal(run('postalias', []).status, 0);
  assert.equal(
    run('postalias', ['-q', 'root', `hash:${file}`]).stdout,
    'second\n',
  );
});

test('does see a rebuilt table when a running reader looks again', async () => {
  const file = write('live', ['k old']);
  assert.equal(run('postmap', [`cdb:${file}`]).status, 0);
  const dict = dictOpen(`cdb:${file}`);
  assert.equal(await dict.lookup('k'), 'old');
  write('live', ['k new']);
  assert.equal(run('postmap', [`cdb:${file}`]).status, 0);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.equal(await dict.lookup('k'), 'new');
  dict.close();
});

// Postfix's own tools on our files and ours on theirs: POSTFIX_SBIN,
// POSTFIX_CONFIG (and POSTFIX_LIBS) name them, else
// packages/tables/debian_postfix_maps.sh unpacks Debian's.
interface PostfixTools {
  sbin: string;
  config: string;
  libs: string;
}

function postfixTools(): PostfixTools | undefined {
  const { POSTFIX_SBIN, POSTFIX_CONFIG, POSTFIX_LIBS } = process.env;
  if (POSTFIX_SBIN && POSTFIX_CONFIG)
    return {
      sbin: POSTFIX_SBIN,
      config: POSTFIX_CONFIG,
      libs: POSTFIX_LIBS ?? '',
    };
  const script = path.join(
    __dirname,
    '..',
    '..',
    'packages',
    'tables',
    'debian_postfix_maps.sh',
  );
  const got = spawnSync('sh', [script], { encoding: 'utf8', timeout: 180_000 });
  const [sbin, config, libs] = got.stdout.trim().split(' ');
  if (got.status !== 0 || !sbin || !fs.existsSync(path.join(sbin, 'postmap')))
    return undefined;
  return { sbin, config, libs };
}

const tools = postfixTools();
const skip = tools ? false : "Debian's Postfix is not available here";

function postfix(command: string, args: string[]): Run {
  const result = spawnSync(
    path.join(tools!.sbin, command),
    ['-c', tools!.config, ...args],
    {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, LD_LIBRARY_PATH: tools!.libs },
    },
  );
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
  };
}

for (const type of ['lmdb', 'cdb']) {
  test(
    `does share ${type} files with Postfix when both build and read them`,
    { skip },
    () => {
      const ours = write(`ours-${type}`, ['Example.com smtp:[ours]', 'k v']);
      assert.equal(run('postmap', [`${type}:${ours}`]).status, 0);
      assert.equal(
        postfix('postmap', ['-q', 'example.com', `${type}:${ours}`]).stdout,
        'smtp:[ours]\n',
      );

      const theirs = write(`theirs-${type}`, ['Example.com smtp:[theirs]']);
      assert.equal(postfix('postmap', [`${type}:${theirs}`]).status, 0);
      assert.equal(
        run('postmap', ['-q', 'EXAMPLE.com', `${type}:${theirs}`]).stdout,
        'smtp:[theirs]\n',
      );
    },
  );
}

// Big enough for branch pages and overflow values, so that liblmdb
// walks and changes a real tree of ours.
function bigSource(name: string): string {
  const lines: string[] = [];
  for (let i = 0; i < 5000; i++)
    lines.push(`key${i} ${i % 500 === 0 ? 'x'.repeat(5000) : 'v'}${i}`);
  return write(name, lines);
}

test(
  'does let Postfix list and update our big lmdb table, and read its changes',
  { skip },
  () => {
    const file = bigSource('big-lmdb');
    assert.equal(run('postmap', [`lmdb:${file}`]).status, 0);
    const listed = postfix('postmap', ['-s', `lmdb:${file}`])
      .stdout.trim()
      .split('\n');
    assert.equal(listed.length, 5000);
    assert.equal(
      postfix('postmap', ['-q', 'key500', `lmdb:${file}`]).stdout,
      `${'x'.repeat(5000)}500\n`,
    );

    const added = spawnSync(
      path.join(tools!.sbin, 'postmap'),
      ['-c', tools!.config, '-i', `lmdb:${file}`],
      {
        input:
          Array.from({ length: 2000 }, (_, i) => `new${i} n${i}`).join('\n') +
          '\n',
        encoding: 'utf8',
        env: { ...process.env, LD_LIBRARY_PATH: tools!.libs },
      },
    );
    assert.equal(added.status, 0, added.stderr);
    assert.equal(postfix('postmap', ['-d', 'key7', `lmdb:${file}`]).status, 0);
    assert.equal(
      run('postmap', ['-q', 'new1999', `lmdb:${file}`]).stdout,
      'n1999\n',
    );
    assert.equal(run('postmap', ['-q', 'key7', `lmdb:${file}`]).status, 1);
    assert.equal(
      run('postmap', ['-s', `lmdb:${file}`])
        .stdout.trim()
        .split('\n').length,
      6999,
    );
  },
);

test(
  'does build alias tables that the postalias of Postfix reads the same',
  { skip },
  () => {
    const file = write('aliases-both', ['Root: admin,b', '  c', '"Q N": x']);
    assert.equal(run('postalias', [`lmdb:${file}`]).status, 0);
    const theirs = postfix('postalias', ['-s', `lmdb:${file}`]).stdout;
    const ours = run('postalias', ['-s', `lmdb:${file}`]).stdout;
    const stable = (text: string) =>
      text
        .split('\n')
        .filter((l) => l && !l.startsWith('YP_LAST'))
        .sort();
    assert.deepEqual(stable(theirs), stable(ours));
    assert.match(theirs, /^root:\tadmin, b c$/m);
  },
);

test('does look up header and body lines when postmap -h -b -q - reads a message', () => {
  const checks = write('header_checks', [
    '/^Subject:/ REJECT subj',
    '/^secret$/ DISCARD',
  ]);
  const message = 'Subject: hello\n world\nFrom: a@b\n\nbody line\nsecret\n';
  const headers = run(
    'postmap',
    ['-h', '-q', '-', `regexp:${checks}`],
    message,
  );
  assert.deepEqual(
    [headers.status, headers.stdout],
    [0, 'Subject: hello\n world\tREJECT subj\n'],
  );
  const body = run('postmap', ['-b', '-q', '-', `regexp:${checks}`], message);
  assert.equal(body.stdout, 'secret\tDISCARD\n');
  const wrong = run('postmap', ['-h', '-q', 'x', `regexp:${checks}`]);
  assert.deepEqual(
    [wrong.status, wrong.stderr],
    [1, 'postmap: fatal: specify -b -h or -m only with "-q -"\n'],
  );
});

// As root, postmap works as the source file's owner unless -o is given.
const nobody = fs
  .readFileSync('/etc/passwd', 'utf8')
  .split('\n')
  .find((line) => line.startsWith('nobody:'));
const asRoot =
  process.getuid?.() === 0 && nobody ? false : 'needs root and user nobody';

test(
  'does write tables as the source owner when root runs postmap',
  { skip: asRoot },
  (t) => {
    const [, , uid, gid] = nobody!
      .split(':')
      .map((f, i) => (i > 1 ? Number(f) : f));
    const owned = fs.mkdtempSync(path.join(os.tmpdir(), 'postmap-owned-'));
    t.after(() => fs.rmSync(owned, { recursive: true, force: true }));
    fs.chmodSync(owned, 0o777);
    const file = path.join(owned, 'map');
    fs.writeFileSync(file, 'k v\n');
    fs.chownSync(file, uid as number, gid as number);
    assert.equal(run('postmap', [`cdb:${file}`]).status, 0);
    assert.equal(fs.statSync(`${file}.cdb`).uid, uid);
    assert.equal(run('postmap', ['-o', `cdb:${file}`]).status, 0);
    assert.equal(fs.statSync(`${file}.cdb`).uid, 0);
  },
);

test('does store alias lists as Postfix writes them when commas vary', () => {
  const file = write('aliases-commas', [
    'a1: x,y',
    'a2: x , y',
    'a3: "|/usr/bin/prog a,b"',
    'a4: Joe <joe@x>, (c,d) e',
    'a5: x,',
  ]);
  assert.equal(run('postalias', [`cdb:${file}`]).status, 0);
  const want = [
    'x, y',
    'x, y',
    '"|/usr/bin/prog a,b"',
    'Joe <joe@x>, (c,d) e',
    'x, ',
  ];
  want.forEach((value, i) =>
    assert.equal(
      run('postalias', ['-q', `a${i + 1}`, `cdb:${file}`]).stdout,
      `${value}\n`,
    ),
  );
});

test('does store keys with or without their NUL when -N or -n is given', () => {
  const file = write('nul', ['k v']);
  const rawKeys = (type: string): string[] => {
    if (type === 'cdb') {
      const image = fs.readFileSync(`${file}.cdb`);
      return [image.subarray(2056, 2058).toString('latin1')];
    }
    const reader = new LmdbReader(`${file}.lmdb`);
    const keys = [...reader.entries()].map(([k]) => k.toString('latin1'));
    reader.close();
    return keys;
  };
  assert.equal(run('postmap', [`lmdb:${file}`]).status, 0);
  assert.deepEqual(rawKeys('lmdb'), ['k\0']);
  assert.equal(run('postmap', ['-n', `lmdb:${file}`]).status, 0);
  assert.deepEqual(rawKeys('lmdb'), ['k']);
  assert.equal(run('postmap', [`cdb:${file}`]).status, 0);
  assert.deepEqual(rawKeys('cdb'), ['kv']);
  assert.equal(run('postmap', ['-N', `cdb:${file}`]).status, 0);
  assert.deepEqual(rawKeys('cdb'), ['k\0']);
  assert.equal(run('postmap', ['-q', 'k', `cdb:${file}`]).stdout, 'v\n');
});
