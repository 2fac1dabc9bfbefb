// Replays the SMTP dialogues in test/dialogues/*.txt against an smtpd
// in-process with the real cleanup, one instance per file. "P: k = v"
// main.cf; "C: x" send x<CR><LF>; "R: x" send raw (\r \n \t \0 \xHH \\);
// "S: x" next reply line is x; "S~ re" it matches; "L~ re" a log line
// matches; "Q: n" n queue files; "E:" server closed; "X:" we close.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  startInstance,
  SmtpTestClient,
  queueFiles,
  waitForLog,
  Instance,
  LOG,
} from '../services/smtpd/smtpd_testkit';

const DIALOGUES = path.join(__dirname, '..', '..', 'test', 'dialogues');

interface Step {
  kind: string;
  text: string;
  line: number;
}

function parseDialogue(file: string): {
  params: Record<string, string>;
  steps: Step[];
} {
  const params: Record<string, string> = {};
  const steps: Step[] = [];
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      if (raw.trim() === '' || raw.startsWith('#')) return;
      const m = /^([PCRSLQEX])([:~]) ?(.*)$/.exec(raw);
      if (!m) throw new Error(`${file}, line ${i + 1}: bad dialogue line`);
      const kind = m[1] + m[2];
      if (kind === 'P:') {
        const [name, ...value] = m[3].split('=');
        params[name.trim()] = value.join('=').trim();
      } else steps.push({ kind, text: m[3], line: i + 1 });
    });
  return { params, steps };
}

function unescape(text: string): string {
  const map: Record<string, string> = { r: '\r', n: '\n', t: '\t', 0: '\0' };
  return text.replace(/\\(x[0-9a-fA-F]{2}|[rnt0\\])/g, (_, c: string) =>
    c.length === 3
      ? String.fromCharCode(parseInt(c.slice(1), 16))
      : (map[c] ?? '\\'),
  );
}

class Player {
  #client: SmtpTestClient;
  #inst: Instance;
  #pending: string[] = [];
  #where: string;
  #logStart: number;

  // logStart: LOG's length before the client connected, as smtpd may log
  // "connect from" before the client hears of its connection.
  constructor(
    client: SmtpTestClient,
    inst: Instance,
    where: string,
    logStart: number,
  ) {
    this.#client = client;
    this.#inst = inst;
    this.#where = where;
    this.#logStart = logStart;
  }

  async #nextLine(step: Step): Promise<string> {
    if (this.#pending.length === 0) {
      const lines = await this.#client.reply();
      if (!lines) assert.fail(`${this.#where}:${step.line}: connection closed`);
      this.#pending = lines;
    }
    return this.#pending.shift()!;
  }

  async play(step: Step): Promise<void> {
    const at = `${this.#where}:${step.line}`;
    switch (step.kind) {
      case 'C:':
        return this.#client.send(step.text);
      case 'R:':
        return this.#client.write(Buffer.from(unescape(step.text), 'latin1'));
      case 'S:':
        return assert.equal(await this.#nextLine(step), step.text, at);
      case 'S~':
        return assert.match(
          await this.#nextLine(step),
          new RegExp(step.text),
          at,
        );
      case 'L~':
        await waitForLog(new RegExp(step.text), this.#logStart);
        return;
      case 'Q:':
        return assert.equal(
          queueFiles(this.#inst.queueDir).length,
          Number(step.text),
          at,
        );
      case 'X:':
        return this.#client.close();
      case 'E:':
        assert.equal(await this.#client.reply(), null, `${at}: expected close`);
        return;
    }
  }
}

const files = fs.existsSync(DIALOGUES)
  ? fs
      .readdirSync(DIALOGUES)
      .filter((f) => f.endsWith('.txt'))
      .sort()
  : [];

for (const name of files) {
  const { params, steps } = parseDialogue(path.join(DIALOGUES, name));
  const title = fs
    .readFileSync(path.join(DIALOGUES, name), 'utf8')
    .split('\n')[0];
  test(`${name.replace(/\.txt$/, '')}: ${title.replace(/^#\s*/, '')}`, async () => {
    const inst = await startInstance(params);
    const logStart = LOG.length;
    const client = await SmtpTestClient.connect(inst.port);
    try {
      const player = new Player(client, inst, name, logStart);
      for (const step of steps) await player.play(step);
    } finally {
      client.close();
      await inst.close();
    }
  });
}

test('does find the dialogue files when the tests run from dist', () => {
  assert.ok(files.length > 0, `no dialogues in ${DIALOGUES}`);
});
