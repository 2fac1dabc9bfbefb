// Fuzzing smtpd with fast-check: random and mutated SMTP dialogues,
// thousands per run, against in-process smtpd instances with the real
// cleanup and anvil. The seed is printed; FUZZ_SEED=<n> replays a run and
// FUZZ_RUNS=<n> sets its size (batches of BATCH concurrent sessions).

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import fc from 'fast-check';
import {
  Instance,
  LOG,
  queueFiles,
  startInstance,
} from '../services/smtpd/smtpd_testkit';

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const BATCH = 8;
const SESSION_MS = 10_000;
const IDLE_MS = 250; // a session left in DATA or BDAT waits: end it

// Tests speak from 127.0.0.1: no exemption from the limits or from the
// exact <CR><LF>.<CR><LF>, so the session is treated as a remote client.
const FUZZ_MAIN_CF = {
  mynetworks: '192.0.2.0/24',
  smtpd_client_event_limit_exceptions: '',
  smtpd_forbid_bare_newline_exclusions: '',
  smtpd_client_connection_count_limit: '50',
  message_size_limit: '20000',
  line_length_limit: '1000',
};

// --- the dialogue grammar

const local = fc.oneof(
  fc.constantFrom('u', 'postmaster', 'a.b', '"q x"', 'x'.repeat(70), ''),
  fc.stringMatching(/^[a-z0-9.+_-]{1,12}$/),
);
const domain = fc.constantFrom(
  'mx.example.com',
  'localhost',
  'example.org',
  '[127.0.0.1]',
  '[IPv6:::1]',
  'a..b',
  'host',
  'd\u00e9j\u00e0.example',
  'x'.repeat(260),
);
const address = fc.oneof(
  fc.constant(''),
  fc.tuple(local, domain).map(([l, d]) => `${l}@${d}`),
  fc.tuple(local, domain, domain).map(([l, a, b]) => `@${a}:${l}@${b}`),
);
const path_ = fc.oneof(
  address.map((a) => `<${a}>`),
  address,
  address.map((a) => `<${a}`),
);
const mailParam = fc.constantFrom(
  '',
  ' SIZE=100',
  ' SIZE=999999999',
  ' SIZE=x',
  ' BODY=8BITMIME',
  ' BODY=BINARYMIME',
  ' SMTPUTF8',
  ' RET=HDRS',
  ' ENVID=a+2Bb',
  ' AUTH=<>',
  ' FOO=bar',
);
const rcptParam = fc.constantFrom(
  '',
  ' NOTIFY=SUCCESS,FAILURE',
  ' NOTIFY=NEVER',
  ' NOTIFY=bogus',
  ' ORCPT=rfc822;u@example.org',
  ' ORCPT=bad',
  ' XYZ',
);
const bodyLine = fc.oneof(
  fc.constantFrom(
    'Subject: fuzz',
    'From: <a@example.org>',
    '',
    '..leading dot',
    '.',
    ' folded',
    'x'.repeat(1500),
  ),
  fc.string({ maxLength: 80 }),
);

// A whole good transaction, so that mutations hit mail that would be
// queued and not only commands refused early.
const transaction = fc
  .tuple(
    fc.array(bodyLine, { maxLength: 5 }),
    fc.constantFrom('u@mx.example.com', 'postmaster@localhost'),
    fc.boolean(),
  )
  .map(([lines, rcpt, bdat]) => {
    const head = [
      'EHLO client.example.org',
      'MAIL FROM:<s@example.org>',
      `RCPT TO:<${rcpt}>`,
    ];
    const body = lines.map((l) => l + '\r\n').join('');
    const end = bdat
      ? `BDAT ${Buffer.byteLength(body, 'latin1')} LAST\r\n${body}`
      : `DATA\r\n${body}.`;
    return [...head, end].join('\r\n');
  });

const verb = (v: string) => fc.constantFrom(v, v.toLowerCase());

const command: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: transaction },
  fc
    .tuple(verb('EHLO'), fc.constantFrom('', ' client.example.org', ' x y'))
    .map(([v, a]) => v + a),
  fc
    .tuple(verb('HELO'), fc.constantFrom('', ' [192.0.2.1]', ' bad!name'))
    .map(([v, a]) => v + a),
  fc
    .tuple(verb('MAIL'), fc.constantFrom(' FROM:', ' FROM: ', ' FROM', ':'))
    .chain(([v, f]) =>
      fc.tuple(path_, mailParam).map(([p, m]) => `${v}${f}${p}${m}`),
    ),
  fc
    .tuple(verb('RCPT'), fc.constantFrom(' TO:', ' TO: ', ' to:'))
    .chain(([v, t]) =>
      fc.tuple(path_, rcptParam).map(([p, r]) => `${v}${t}${p}${r}`),
    ),
  fc
    .array(bodyLine, { maxLength: 6 })
    .map((lines) => ['DATA', ...lines, '.'].join('\r\n')),
  verb('DATA'),
  fc
    .tuple(fc.nat({ max: 40 }), fc.boolean())
    .map(([n, last]) => `BDAT ${n}${last ? ' LAST' : ''}\r\n${'b'.repeat(n)}`),
  fc.constantFrom(
    'RSET',
    'NOOP',
    'QUIT',
    'VRFY u@mx.example.com',
    'VRFY',
    'ETRN example.org',
    'ETRN',
    'STARTTLS',
    'AUTH PLAIN AGFhAGI=',
    'HELP',
    'GET / HTTP/1.0',
    'Subject: hi',
    'BDAT x',
    'BDAT 0',
    '',
    ' ',
    'MAIL FROM:<a@b>\r',
  ),
  fc.string({ maxLength: 60 }),
);

// Line ends as clients get them wrong, and bytes put in at random.
const lineEnd = fc.oneof(
  { weight: 12, arbitrary: fc.constant('\r\n') },
  { weight: 1, arbitrary: fc.constantFrom('\n', '\r', '\r\r\n', '\n.\n') },
);
const insertion = fc.record({
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  bytes: fc.oneof(
    fc.constantFrom('\0', '\r', '\n', '\r\n.\r\n', '\xff\xfe', '\n.\r\n'),
    fc
      .uint8Array({ maxLength: 16 })
      .map((a) => Buffer.from(a).toString('latin1')),
  ),
});

const session = fc
  .record({
    steps: fc.array(fc.tuple(command, lineEnd), { maxLength: 14 }),
    inserts: fc.array(insertion, { maxLength: 3 }),
    strict: fc.boolean(), // the instance with Postfix's default pipelining
  })
  .map(({ steps, inserts, strict }) => {
    let text = steps.map(([c, e]) => c + e).join('');
    for (const { at, bytes } of inserts) {
      const i = Math.floor(at * text.length);
      text = text.slice(0, i) + bytes + text.slice(i);
    }
    return { bytes: Buffer.from(text + '\r\nQUIT\r\n', 'latin1'), strict };
  });

// --- one session on the wire

interface Outcome {
  sent: Buffer;
  received: string;
}

function runSession(port: number, sent: Buffer): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let idle: NodeJS.Timeout | null = null;
    const poke = () => {
      if (idle) clearTimeout(idle);
      idle = setTimeout(() => socket.end(), IDLE_MS);
    };
    const limit = setTimeout(() => {
      socket.destroy();
      reject(new Error(`session did not end within ${SESSION_MS} ms`));
    }, SESSION_MS);
    socket.on('connect', () => {
      socket.write(sent);
      poke();
    });
    socket.on('data', (d) => {
      chunks.push(d);
      poke();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(limit);
      if (idle) clearTimeout(idle);
      resolve({ sent, received: Buffer.concat(chunks).toString('latin1') });
    });
  });
}

// --- what every reply must look like

// Replies for which Postfix itself sends no enhanced status code.
const NO_ENHANCED = [
  /^220 /,
  /^250[ -]/, // HELO, EHLO lines
  /^354 /,
  /^501 Syntax: (HELO|EHLO) hostname$/,
  /^500 Syntax: ETRN domain$/,
  /^45[89] /,
];
const ENHANCED = /^(\d)\d\d[ -]([245])\.\d{1,3}\.\d{1,3}(?: |$)/;

function checkReplies(text: string): string[] {
  const queued: string[] = [];
  assert.ok(text === '' || text.endsWith('\r\n'), `cut reply: ${text}`);
  for (const line of text.split('\r\n').slice(0, -1)) {
    assert.match(line, /^\d{3}[ -]/, `not a reply line: ${line}`);
    assert.doesNotMatch(line, /[\r\n\0]/, `control byte: ${line}`);
    assert.doesNotMatch(line, /internal error/, line);
    if (!NO_ENHANCED.some((re) => re.test(line))) {
      const m = ENHANCED.exec(line);
      assert.ok(m && m[1] === m[2], `no enhanced status code: ${line}`);
    }
    const q = /^250 2\.0\.0 Ok: (\d+ bytes )?queued as (\S+)$/.exec(line);
    if (q) queued.push(`${q[1] ? 'bdat' : 'data'}:${q[2]}`);
  }
  return queued;
}

// Each message queued by DATA needs an exact end-of-data line of its own
// in what the client sent; each one by BDAT, a LAST chunk.
// Returns how many more messages the session may have queued without our
// seeing the 250: a client that stops reading after its final dot still
// has its message queued, as with Postfix.
function checkQueued(o: Outcome, queued: string[]): number {
  const sent = o.sent.toString('latin1');
  const count = (re: RegExp) => (sent.match(re) ?? []).length;
  const data = queued.filter((q) => q.startsWith('data:')).length;
  const ends = count(/\r\n\.\r\n/g);
  assert.ok(data <= ends, `${data} queued by DATA`);
  const bdat = queued.length - data;
  const lasts = count(/BDAT \d+ LAST/gi);
  assert.ok(bdat <= lasts, `${bdat} queued by BDAT`);
  return ends - data + (lasts - bdat);
}

function incompleteFiles(queueDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if ((fs.statSync(full).mode & 0o777) !== 0o700) out.push(full);
    }
  };
  walk(path.join(queueDir, 'incoming'));
  return out;
}

async function waitNoIncomplete(queueDir: string): Promise<string[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const left = incompleteFiles(queueDir);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('smtpd does survive random and mutated dialogues with well-formed replies', async (t) => {
  t.diagnostic(`fuzz seed: ${SEED} (replay: FUZZ_SEED=${SEED})`);
  console.log(`fuzz seed: ${SEED} (replay with FUZZ_SEED=${SEED})`);
  const loose: Instance = await startInstance(
    { ...FUZZ_MAIN_CF, smtpd_forbid_unauth_pipelining: 'no' },
    { anvil: true },
  );
  const strict: Instance = await startInstance(FUZZ_MAIN_CF, { anvil: true });
  const queued = new Map<Instance, Set<string>>([
    [loose, new Set()],
    [strict, new Set()],
  ]);
  // Per instance: ends of data whose reply the session did not read.
  const unseen = new Map<Instance, number>([
    [loose, 0],
    [strict, 0],
  ]);
  const fromLog = LOG.length;
  let sessions = 0;
  let replies = 0;
  const started = Date.now();
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(session, { minLength: BATCH, maxLength: BATCH }),
        async (batch) => {
          const outcomes = await Promise.all(
            batch.map((s) =>
              runSession((s.strict ? strict : loose).port, s.bytes),
            ),
          );
          sessions += batch.length;
          outcomes.forEach((o, i) => {
            replies += o.received.split('\r\n').length - 1;
            const ids = checkReplies(o.received);
            const inst = batch[i].strict ? strict : loose;
            unseen.set(inst, unseen.get(inst)! + checkQueued(o, ids));
            for (const id of ids) queued.get(inst)!.add(id.slice(5));
          });
        },
      ),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    const seconds = (Date.now() - started) / 1000;
    const kept = [...queued.values()].reduce((n, ids) => n + ids.size, 0);
    t.diagnostic(
      `${sessions} sessions, ${replies} reply lines, ${kept} messages ` +
        `queued, in ${seconds.toFixed(1)} s`,
    );
    for (const [inst, ids] of queued) {
      assert.deepEqual(await waitNoIncomplete(inst.queueDir), []);
      const files = new Set(
        queueFiles(inst.queueDir).map((f) => path.basename(f)),
      );
      // Every acknowledged message is queued; any other queue file is one
      // the client finished but stopped listening for (slow machine).
      for (const id of ids) assert.ok(files.has(id), `${id} was not queued`);
      assert.ok(
        files.size - ids.size <= unseen.get(inst)!,
        `${files.size - ids.size} unacknowledged queue files, at most ` +
          `${unseen.get(inst)} finished messages went unanswered`,
      );
    }
    const bad = LOG.slice(fromLog).filter((l) =>
      /^(error|panic|fatal): /.test(l),
    );
    assert.deepEqual(bad, []);
  } finally {
    await loose.close();
    await strict.close();
  }
});
