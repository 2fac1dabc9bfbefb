// Tests of Config (config.ts) on real main.cf files in a temporary
// folder: syntax, lazy expansion, typed getters and their errors,
// -o overrides, directory selection and the unused-parameter check.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config, ConfigError, ParamDef, resolveConfigDir } from './config';
import { CATALOG } from './params';
import { addLogSink } from '../log/log';

function withMainCf(text: string, body: (dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'config-test-'));
  try {
    fs.writeFileSync(path.join(dir, 'main.cf'), text);
    body(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// The real catalog plus one parameter of each numeric type with bounds,
// so that the tests do not lean on other areas' files.
const TEST_DEFS: ParamDef[] = [
  { name: 't_size', type: 'size', default: '10240000', min: 0, doc: 'x' },
  { name: 't_int', type: 'int', default: '5', min: 1, max: 9, doc: 'x' },
  { name: 't_days', type: 'time', default: '5d', unit: 'd', doc: 'x' },
  { name: 't_bool', type: 'bool', default: 'no', doc: 'x' },
];

const TEST_CATALOG = new Map([
  ...CATALOG,
  ...TEST_DEFS.map((def) => [def.name, def] as const),
]);

function load(dir: string, overrides?: Record<string, string>): Config {
  return Config.load({ configDir: dir, overrides, catalog: TEST_CATALOG });
}

test('reads values, skipping comments and joining continuation lines', () => {
  const text = [
    '# a comment',
    'mydestination = one,',
    '    two',
    '  # a comment inside does not end the line',
    '\tthree',
    '',
    'myorigin=example.org   ',
  ].join('\n');
  withMainCf(text, (dir) => {
    const config = load(dir);
    assert.deepEqual(config.list('mydestination'), ['one', 'two', 'three']);
    assert.equal(config.get('myorigin'), 'example.org');
    assert.equal(config.definition('mydestination')?.line, 2);
    assert.equal(config.definition('myorigin')?.line, 7);
  });
});

test('keeps the last definition when a name is set twice', () => {
  withMainCf('mail_name = First\nmail_name = Second\n', (dir) => {
    const config = load(dir);
    assert.equal(config.get('mail_name'), 'Second');
    assert.equal(config.definition('mail_name')?.line, 2);
  });
});

test('expands lazily and recursively, with catalog defaults', () => {
  const text = [
    'myhostname = mx.example.com',
    'myorigin = $mydomain',
    'banner = ${myorigin?{$myorigin says hi}}',
  ].join('\n');
  withMainCf(text, (dir) => {
    const config = load(dir);
    assert.equal(config.get('mydomain'), 'example.com');
    assert.equal(config.get('myorigin'), 'example.com');
    assert.equal(config.raw('myorigin'), '$mydomain');
    assert.equal(config.raw('mydomain'), undefined);
    assert.equal(config.expandText('$banner'), 'example.com says hi');
    assert.deepEqual(config.list('mydestination'), [
      'mx.example.com',
      'localhost.example.com',
      'localhost',
    ]);
  });
});

test('computes compatibility-dependent defaults from the level', () => {
  withMainCf('compatibility_level = 3.6\n', (dir) => {
    assert.equal(load(dir).get('mynetworks_style'), 'host');
  });
  withMainCf('compatibility_level = 1\n', (dir) => {
    assert.equal(load(dir).get('mynetworks_style'), 'subnet');
  });
});

test('appends .localdomain to a hostname without a dot', () => {
  withMainCf('', (dir) => {
    const host = load(dir).get('myhostname');
    assert.ok(host.includes('.'), host);
    if (!os.hostname().includes('.'))
      assert.equal(host, `${os.hostname()}.localdomain`);
  });
});

test('lets -o overrides win over main.cf', () => {
  withMainCf('mail_name = File\n', (dir) => {
    const config = load(dir, { mail_name: 'Override' });
    assert.equal(config.get('mail_name'), 'Override');
  });
});

test('sets read-only parameters from the process', () => {
  withMainCf('', (dir) => {
    const config = Config.load({ configDir: dir, serviceName: 'relay' });
    assert.equal(config.get('process_id'), String(process.pid));
    assert.equal(config.get('service_name'), 'relay');
    assert.equal(config.get('config_directory'), dir);
  });
});

test('converts typed values with units and defaults', () => {
  const text = 't_size = 2048\nmax_idle = 2m\nt_bool = YES\nt_int = 7\n';
  withMainCf(text, (dir) => {
    const config = load(dir);
    assert.equal(config.size('t_size'), 2048);
    assert.equal(config.time('max_idle'), 120);
    assert.equal(config.time('t_days'), 5 * 86400);
    assert.equal(config.time('ipc_idle'), 5);
    assert.equal(config.bool('t_bool'), true);
    assert.equal(config.int('t_int'), 7);
  });
});

// Each bad value, the getter that reads it, and Postfix's message after
// "file, line N: ".
const BAD_VALUES: [string, (config: Config) => unknown, string][] = [
  [
    't_size = ten',
    (config) => config.size('t_size'),
    'bad numerical configuration: t_size = ten',
  ],
  [
    't_int = 5x',
    (config) => config.int('t_int'),
    'bad numerical configuration: t_int = 5x',
  ],
  [
    't_int = 0',
    (config) => config.int('t_int'),
    'invalid t_int parameter value 0 < 1',
  ],
  [
    't_int = 10',
    (config) => config.int('t_int'),
    'invalid t_int parameter value 10 > 9',
  ],
  [
    't_bool = maybe',
    (config) => config.bool('t_bool'),
    'bad boolean configuration: t_bool = maybe',
  ],
  [
    'max_idle = 10y',
    (config) => config.time('max_idle'),
    'parameter max_idle: bad time value or unit: 10y',
  ],
  [
    'max_idle = 0',
    (config) => config.time('max_idle'),
    'invalid max_idle: 0 (min 1)',
  ],
  [
    'myorigin = ${mydomain',
    (config) => config.get('myorigin'),
    `parameter myorigin: missing '}' in "\${mydomain"`,
  ],
];

for (const [line, read, message] of BAD_VALUES) {
  test(`throws ConfigError naming file and line when ${line}`, () => {
    withMainCf(`# first\n\n${line}\n`, (dir) => {
      const file = path.join(dir, 'main.cf');
      const config = load(dir);
      assert.throws(() => read(config), {
        name: 'ConfigError',
        message: `${file}, line 3: ${message}`,
      });
      assert.throws(() => config.validate(), ConfigError);
    });
  });
}

test('names the loop when parameters refer to each other', () => {
  withMainCf('myorigin = $mydomain\nmydomain = $myorigin\n', (dir) => {
    const file = path.join(dir, 'main.cf');
    assert.throws(() => load(dir).get('myorigin'), {
      message:
        `${file}, line 1: parameter myorigin: ` +
        'unreasonable macro call nesting: "$myorigin"',
    });
  });
});

test('reports a line without = in Postfix wording', () => {
  withMainCf('mail_name = ok\nnonsense here\n', (dir) => {
    const file = path.join(dir, 'main.cf');
    assert.throws(() => load(dir), {
      message: `${file}, line 2: missing '=' after attribute name: "nonsense here"`,
    });
  });
});

test('reports a missing main.cf as open failure', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'config-test-'));
  try {
    assert.throws(() => Config.load({ configDir: dir }), {
      message: `open ${dir}/main.cf: No such file or directory`,
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('warns about unused parameters but not about referenced ones', () => {
  const text = 'my_var = x\nuses = $my_var\nlonely = 1\nmail_name = y\n';
  withMainCf(text, (dir) => {
    const config = load(dir);
    const file = path.join(dir, 'main.cf');
    assert.deepEqual(config.validate(), [
      `${file}: unused parameter: uses=$my_var`,
      `${file}: unused parameter: lonely=1`,
    ]);
    assert.deepEqual(config.validate(['lonely', 'uses']), []);
  });
});

test('returns empty and warns once for an unknown name outside strict mode', () => {
  withMainCf('', (dir) => {
    const saved = process.env.POSTFIX_TS_STRICT;
    delete process.env.POSTFIX_TS_STRICT;
    try {
      const lines: string[] = [];
      addLogSink((line) => lines.push(line));
      const config = load(dir);
      assert.equal(config.get('no_such_parameter'), '');
      assert.equal(config.get('no_such_parameter'), '');
      assert.equal(lines.length, 1);
      assert.match(
        lines[0],
        /warning: config: parameter not in the catalog: no_such_parameter$/,
      );
    } finally {
      if (saved !== undefined) process.env.POSTFIX_TS_STRICT = saved;
    }
  });
});

test('throws on an unknown name in strict mode', () => {
  withMainCf('', (dir) => {
    const saved = process.env.POSTFIX_TS_STRICT;
    process.env.POSTFIX_TS_STRICT = '1';
    try {
      assert.throws(() => load(dir).get('no_such_parameter'), {
        message: 'config: parameter not in the catalog: no_such_parameter',
      });
    } finally {
      if (saved === undefined) delete process.env.POSTFIX_TS_STRICT;
      else process.env.POSTFIX_TS_STRICT = saved;
    }
  });
});

test('takes -c over MAIL_CONFIG over /etc/postfix', () => {
  const saved = process.env.MAIL_CONFIG;
  try {
    process.env.MAIL_CONFIG = '/from/env';
    assert.equal(resolveConfigDir('/from/flag'), '/from/flag');
    assert.equal(resolveConfigDir(), '/from/env');
    delete process.env.MAIL_CONFIG;
    assert.equal(resolveConfigDir(), '/etc/postfix');
  } finally {
    if (saved === undefined) delete process.env.MAIL_CONFIG;
    else process.env.MAIL_CONFIG = saved;
  }
});

test('loads from MAIL_CONFIG when no directory is given', () => {
  withMainCf('mail_name = FromEnv\n', (dir) => {
    const saved = process.env.MAIL_CONFIG;
    process.env.MAIL_CONFIG = dir;
    try {
      const config = Config.load();
      assert.equal(config.configDir, dir);
      assert.equal(config.get('mail_name'), 'FromEnv');
    } finally {
      if (saved === undefined) delete process.env.MAIL_CONFIG;
      else process.env.MAIL_CONFIG = saved;
    }
  });
});
