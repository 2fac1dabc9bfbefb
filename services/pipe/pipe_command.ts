// Running one pipe(8) command: argv executed directly (no shell) with the
// user= rights in its own process group, the message on its standard
// input, at most OUTPUT_LIMIT bytes of its output kept, a SIGKILL to the
// group at the time limit, and the end mapped as Postfix's pipe_command.

import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import * as os from 'node:os';
import type { Rights } from '../local/local_state';
import { SYS_EXITS } from '../../packages/util/sys_exits';

export interface CommandRun {
  argv: string[];
  rights: Rights;
  cwd: string;
  env: Record<string, string>;
  timeLimit: number; // seconds
  input: Iterable<Buffer>;
}

export type PipeStatus = 'sent' | 'deferred' | 'bounced';

export interface CommandOutcome {
  status: PipeStatus;
  dsn: string;
  reason: string;
}

const OUTPUT_LIMIT = 4096;

export interface CommandEnd {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  output: string; // made printable
  spawnError?: string;
}

export async function runCommand(run: CommandRun): Promise<CommandOutcome> {
  return commandOutcome(run.argv[0], await execute(run));
}

async function execute(run: CommandRun): Promise<CommandEnd> {
  // XXX libuv changes directory before it drops rights, so directory=
  // is entered as root, where Postfix enters it as user=.
  const child = spawn(run.argv[0], run.argv.slice(1), {
    cwd: run.cwd,
    env: run.env,
    uid: run.rights.uid,
    gid: run.rights.gid,
    detached: true, // setsid: the time limit kills the command's offspring
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const output = collectOutput(child);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, run.timeLimit * 1000);
  const spawned = new Promise<string | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (err) => resolve(errText(err)));
  });
  const exit = new Promise<[number | null, string | null]>((resolve) =>
    child.once('close', (code, signal) => resolve([code, signal])),
  );
  try {
    const spawnError = await spawned;
    if (!spawnError) await feedOrKill(child, run.input, exit);
    else child.stdin?.destroy();
    const [code, signal] = await exit;
    return { code, signal, timedOut, output: output(), spawnError };
  } finally {
    clearTimeout(timer);
  }
}

// A queue file that cannot be read must not leave the command waiting
// for the rest of its input: it is killed before the error goes on.
async function feedOrKill(
  child: ChildProcess,
  input: Iterable<Buffer>,
  exit: Promise<unknown>,
): Promise<void> {
  try {
    await feed(child.stdin!, input);
  } catch (err) {
    killGroup(child);
    await exit;
    throw err;
  }
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

// Standard output and error together, as the command's pipe in Postfix.
function collectOutput(child: ChildProcess): () => string {
  const parts: Buffer[] = [];
  let size = 0;
  const take = (b: Buffer) => {
    if (size >= OUTPUT_LIMIT) return;
    parts.push(b.subarray(0, OUTPUT_LIMIT - size));
    size += Math.min(b.length, OUTPUT_LIMIT - size);
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  return () => printableOutput(Buffer.concat(parts).toString('latin1'));
}

// Tabs and line ends become spaces, other controls '_', as Postfix logs.
export function printableOutput(text: string): string {
  return text
    .replace(/[\t\r\n]/g, ' ')
    .replace(/[^\x20-\x7e\u00a0-\u00ff]/g, '_')
    .trimEnd();
}

// A command that stops reading early (EPIPE) is judged by its exit
// status alone, as in Postfix.
async function feed(stdin: Writable, input: Iterable<Buffer>): Promise<void> {
  let broken = false;
  stdin.on('error', () => (broken = true));
  for (const chunk of input) {
    if (broken || stdin.destroyed) break;
    if (!stdin.write(chunk))
      await Promise.race([once(stdin, 'drain'), once(stdin, 'close')]).catch(
        () => (broken = true),
      );
  }
  stdin.end();
}

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text: Record<string, string> = {
    ENOENT: 'No such file or directory',
    EACCES: 'Permission denied',
  };
  return (e.code && text[e.code]) || e.message;
}

const DSN_TEXT = /^([245]\.\d{1,3}\.\d{1,3})(?:\s+(.*))?$/s;

// The verdict, in Postfix's order: time limit (bounce), signal (defer),
// a "D.S.N text" answer, a sysexits code, any other status (bounce).
export function commandOutcome(command: string, e: CommandEnd): CommandOutcome {
  const out = e.output;
  const more = out ? `. Command output: ${out}` : '';
  if (e.spawnError)
    // Postfix's child exits EX_TEMPFAIL when execvp fails.
    return failure(
      '4.3.0',
      'temporary failure',
      `. Command output: pipe_command: execvp ${command}: ${e.spawnError}`,
    );
  if (e.timedOut)
    return failure('5.3.0', `Command time limit exceeded: "${command}"`, more);
  if (e.signal)
    return failure(
      '4.3.0',
      `Command died with signal ${signalNumber(e.signal)}: "${command}"`,
      more,
    );
  if (e.code === 0) return { status: 'sent', dsn: '2.0.0', reason: '' };
  const dsn = DSN_TEXT.exec(out);
  if (dsn) return failure(dsn[1], dsn[2] ?? '', '');
  const known = SYS_EXITS[e.code ?? -1];
  if (known) return failure(known[0], known[1], more);
  return failure(
    '5.3.0',
    `Command died with status ${e.code}: "${command}"`,
    more,
  );
}

function failure(dsn: string, text: string, more: string): CommandOutcome {
  const status = dsn.startsWith('4') ? 'deferred' : 'bounced';
  return { status, dsn, reason: text + more };
}

function signalNumber(name: string): number {
  return os.constants.signals[name as NodeJS.Signals] ?? 0;
}
