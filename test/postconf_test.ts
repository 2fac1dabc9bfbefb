// End-to-end tests of the postconf command: the compiled command runs as
// a child process on main.cf and master.cf in a temporary folder, and
// its output, standard error, exit code and edited files are checked.

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const POSTCONF = path.join(
  __dirname,
  '..',
  'packages',
  'commands',
  'postconf.js',
);

const MAIN_CF = [
  '# Local settings',
  'compatibility_level = 3.6',
  'myhostname = mx.example.com',
  '# whom we trust',
  'mynetworks = 127.0.0.0/8,',
  '    192.0.2.0/24',
  'myorigin = $mydomain',
  '',
].join('\n');

const MASTER_CF = [
  '# service type private unpriv chroot wakeup maxproc command',
  'smtp      inet  n       -       n       -       -       smtpd',
  'pickup    unix  n       -       n       60      1       pickup',
  'submission inet n       -       n       -       -       smtpd',
  '  -o syslog_name=postfix/submission',
  '  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }',
  '',
].join('\n');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function withConfig(body: (dir: string) => void, main = MAIN_CF): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postconf-test-'));
  try {
    fs.writeFileSync(path.join(dir, 'main.cf'), main);
    fs.writeFileSync(path.join(dir, 'master.cf'), MASTER_CF);
    body(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function postconf(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const result = spawnSync(process.execPath, [POSTCONF, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 20000,
  });
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
  };
}

function ok(args: string[], env?: NodeJS.ProcessEnv): string {
  const run = postconf(args, env);
  assert.equal(run.status, 0, run.stderr);
  return run.stdout;
}

test('shows named parameters as name = value', () => {
  withConfig((dir) => {
    const names = ['myhostname', 'myorigin', 'mail_name', 'maillog_file'];
    assert.equal(
      ok(['-c', dir, ...names]),
      'myhostname = mx.example.com\nmyorigin = $mydomain\n' +
        'mail_name = Postfix\nmaillog_file =\n',
    );
  });
});

test('warns about an unknown name and still exits 0', () => {
  withConfig((dir) => {
    const run = postconf(['-c', dir, 'no_such_thing']);
    assert.equal(run.status, 0);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr,
      'postconf: warning: no_such_thing: unknown parameter\n',
    );
  });
});

test('shows only main.cf settings, sorted, with -n', () => {
  withConfig((dir) => {
    assert.equal(
      ok(['-n', '-c', dir]),
      [
        'compatibility_level = 3.6',
        'myhostname = mx.example.com',
        'mynetworks = 127.0.0.0/8, 192.0.2.0/24',
        'myorigin = $mydomain',
        '',
      ].join('\n'),
    );
  });
});

test('shows defaults with -d, unexpanded', () => {
  withConfig((dir) => {
    assert.equal(ok(['-d', '-c', dir, 'myorigin']), 'myorigin = $myhostname\n');
    assert.equal(
      ok(['-d', '-c', dir, 'mynetworks_style']),
      'mynetworks_style = ${{$compatibility_level} <level {2} ? {subnet} : {host}}\n',
    );
  });
});

test('expands with -x and shows values or names with -h and -H', () => {
  withConfig((dir) => {
    assert.equal(ok(['-x', '-c', dir, 'myorigin']), 'myorigin = example.com\n');
    assert.equal(ok(['-xh', '-c', dir, 'myorigin']), 'example.com\n');
    assert.equal(ok(['-nH', '-c', dir]).split('\n')[0], 'compatibility_level');
    assert.equal(ok(['-hx', `-c${dir}`, 'mynetworks_style']), 'host\n');
    assert.equal(ok(['-dhx', `-c${dir}`, 'mynetworks_style']), 'subnet\n');
  });
});

test('reads the directory from MAIL_CONFIG without -c', () => {
  withConfig((dir) => {
    assert.equal(
      ok(['-h', 'myhostname'], { MAIL_CONFIG: dir }),
      'mx.example.com\n',
    );
  });
});

test('applies -o overrides to what it shows', () => {
  withConfig((dir) => {
    assert.equal(
      ok(['-c', dir, '-o', 'myhostname=other', '-h', 'myhostname']),
      'other\n',
    );
  });
});

test('warns about unused parameters as Postfix does', () => {
  withConfig((dir) => {
    const main = path.join(dir, 'main.cf');
    fs.appendFileSync(main, 'bogus_setting = 1\n');
    const run = postconf(['-n', '-c', dir]);
    assert.equal(run.status, 0);
    assert.equal(
      run.stderr,
      `postconf: warning: ${main}: unused parameter: bogus_setting=1\n`,
    );
  });
});

test('keeps quiet about warnings with -q', () => {
  withConfig((dir) => {
    fs.appendFileSync(path.join(dir, 'main.cf'), 'bogus_setting = 1\n');
    const run = postconf(['-nq', '-c', dir, 'no_such_thing']);
    assert.equal(run.status, 0);
    assert.equal(run.stderr, '');
  });
});

test('edits main.cf in place with -e, keeping comments', () => {
  withConfig((dir) => {
    const main = path.join(dir, 'main.cf');
    ok([
      '-c',
      dir,
      '-e',
      'mynetworks = 10.0.0.0/8',
      'relayhost=[smarthost]:587',
    ]);
    assert.equal(
      fs.readFileSync(main, 'utf8'),
      MAIN_CF.replace(
        'mynetworks = 127.0.0.0/8,\n    192.0.2.0/24',
        'mynetworks = 10.0.0.0/8',
      ) + 'relayhost = [smarthost]:587\n',
    );
    ok(['-c', dir, 'myhostname=mail.example.net']);
    assert.equal(ok(['-c', dir, '-h', 'myhostname']), 'mail.example.net\n');
  });
});

test('removes with -X and comments out with -#', () => {
  withConfig((dir) => {
    const main = path.join(dir, 'main.cf');
    ok(['-X', '-c', dir, 'myorigin']);
    ok(['-#', '-c', dir, 'mynetworks']);
    const text = fs.readFileSync(main, 'utf8');
    assert.doesNotMatch(text, /^myorigin/m);
    assert.match(
      text,
      /^#mynetworks = 127\.0\.0\.0\/8,\n#    192\.0\.2\.0\/24$/m,
    );
    assert.match(text, /^# whom we trust$/m);
  });
});

test('shows master.cf entries in aligned columns with -M', () => {
  withConfig((dir) => {
    assert.equal(
      ok(['-M', '-c', dir]),
      [
        'smtp       inet  n       -       n       -       -       smtpd',
        'pickup     unix  n       -       n       60      1       pickup',
        'submission inet  n       -       n       -       -       smtpd ' +
          '-o syslog_name=postfix/submission ' +
          '-o { smtpd_client_restrictions = permit_sasl_authenticated, reject }',
        '',
      ].join('\n'),
    );
    assert.equal(
      ok(['-M', '-c', dir, 'pickup/unix']),
      'pickup     unix  n       -       n       60      1       pickup\n',
    );
  });
});

test('folds -o options onto their own lines with -Mf', () => {
  withConfig((dir) => {
    assert.equal(
      ok(['-Mf', '-c', dir, 'submission']),
      [
        'submission inet  n       -       n       -       -       smtpd',
        '    -o syslog_name=postfix/submission',
        '    -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }',
        '',
      ].join('\n'),
    );
  });
});

test('shows master.cf fields with -F', () => {
  withConfig((dir) => {
    assert.equal(
      ok(['-F', '-c', dir, 'pickup/unix']),
      [
        'pickup/unix/service = pickup',
        'pickup/unix/type = unix',
        'pickup/unix/private = n',
        'pickup/unix/unprivileged = -',
        'pickup/unix/chroot = n',
        'pickup/unix/wakeup = 60',
        'pickup/unix/process_limit = 1',
        'pickup/unix/command = pickup',
        '',
      ].join('\n'),
    );
    assert.equal(ok(['-Fh', '-c', dir, 'smtp/inet/command']), 'smtpd\n');
  });
});

test('shows master.cf -o parameters with -P', () => {
  withConfig((dir) => {
    assert.equal(
      ok(['-P', '-c', dir]),
      'submission/inet/syslog_name = postfix/submission\n' +
        'submission/inet/smtpd_client_restrictions = ' +
        'permit_sasl_authenticated, reject\n',
    );
    assert.equal(
      ok(['-P', '-c', dir, 'submission/inet/syslog_name']),
      'submission/inet/syslog_name = postfix/submission\n',
    );
  });
});

test('lists table types with -m and lock methods with -l', () => {
  withConfig((dir) => {
    const types = ok(['-m', '-c', dir]).trim().split('\n');
    assert.ok(types.length > 0);
    assert.deepEqual(types, [...types].sort());
    assert.equal(ok(['-l', '-c', dir]), 'flock\nfcntl\ndotlock\n');
  });
});

function masterCf(dir: string): string {
  return fs.readFileSync(path.join(dir, 'master.cf'), 'utf8');
}

test('adds or replaces a master.cf entry with -Me', () => {
  withConfig((dir) => {
    ok(['-c', dir, '-Me', 'relay/unix = relay unix - - n - - smtp']);
    ok(['-c', dir, '-Me', 'pickup/unix = pickup unix n - n 30 1 pickup']);
    const text = masterCf(dir);
    assert.ok(text.startsWith('# service type private'));
    assert.match(text, /^pickup unix n - n 30 1 pickup$/m);
    assert.ok(text.endsWith('relay unix - - n - - smtp\n'));
    assert.doesNotMatch(text, /60/);
  });
});

test('removes with -MX and comments out with -M#', () => {
  withConfig((dir) => {
    ok(['-c', dir, '-MX', 'pickup/unix']);
    ok(['-c', dir, '-M#', 'submission/inet']);
    const text = masterCf(dir);
    assert.doesNotMatch(text, /^pickup/m);
    assert.match(text, /^#submission inet n/m);
    assert.match(text, /^#  -o syslog_name=postfix\/submission$/m);
    assert.equal(ok(['-M', '-c', dir]).split('\n').length, 2);
  });
});

test('edits a field with -Fe and -o parameters with -Pe and -PX', () => {
  withConfig((dir) => {
    ok(['-c', dir, '-Fe', 'pickup/unix/wakeup=30']);
    ok(['-c', dir, '-Pe', 'smtp/inet/smtpd_banner=$myhostname ready']);
    ok(['-c', dir, '-PX', 'submission/inet/syslog_name']);
    assert.equal(ok(['-Fh', '-c', dir, 'pickup/unix/wakeup']), '30\n');
    assert.equal(
      ok(['-P', '-c', dir]),
      'smtp/inet/smtpd_banner = $myhostname ready\n' +
        'submission/inet/smtpd_client_restrictions = ' +
        'permit_sasl_authenticated, reject\n',
    );
    assert.match(masterCf(dir), /^# service type private/);
  });
});

test('leaves master.cf alone when an edit would break it', () => {
  withConfig((dir) => {
    const run = postconf(['-c', dir, '-Fe', 'pickup/unix/wakeup=soon']);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /field "wakeup_time": bad value: "soon"/);
    assert.equal(masterCf(dir), MASTER_CF);
    const missing = postconf(['-c', dir, '-MX', 'nosuch/unix']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /service not found: nosuch\/unix\n$/);
  });
});

const FAILURES: [string, string[], RegExp][] = [
  ['an unknown flag', ['-Q'], /^postconf: fatal: usage: postconf /],
  ['two modes at once', ['-e', '-X', 'a'], /^postconf: fatal: usage: /],
  [
    '-e without =',
    ['-e', 'myhostname'],
    /^postconf: fatal: missing '=' in "myhostname"\n$/,
  ],
];

for (const [what, args, pattern] of FAILURES) {
  test(`exits 1 with a fatal message on ${what}`, () => {
    withConfig((dir) => {
      const run = postconf(['-c', dir, ...args]);
      assert.equal(run.status, 1);
      assert.match(run.stderr, pattern);
    });
  });
}

test('exits 1 naming the file and line of a bad main.cf line', () => {
  withConfig((dir) => {
    const run = postconf(['-n', '-c', dir]);
    assert.equal(run.status, 1);
    assert.equal(
      run.stderr,
      `postconf: fatal: ${dir}/main.cf, line 2: ` +
        `missing '=' after attribute name: "junk line"\n`,
    );
  }, 'myhostname = a.example\njunk line\n');
});

test('exits 1 when main.cf is missing', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postconf-test-'));
  try {
    const run = postconf(['-c', dir, '-n']);
    assert.equal(run.status, 1);
    assert.equal(
      run.stderr,
      `postconf: fatal: open ${dir}/main.cf: No such file or directory\n`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
