// |command delivery for local (aliases, .forward, :include:,
// mailbox_command): run the command with the recipient's uid and gid and
// a fixed environment, feed it the message, map its exit status as
// Postfix's sys_exits table does, and kill it after command_time_limit.

import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import {
  COPY_COMMAND,
  messageChunks,
  type HeaderValues,
} from './local_content';
import { isRoot, leaveRest } from './local_user';
import { printable } from '../../packages/log/log';
import {
  bounced,
  deferred,
  sent,
  type LocalMessage,
  type LocalSettings,
  type Outcome,
  type Rights,
} from './local_state';
import { SYS_EXITS } from '../../packages/util/sys_exits';

export interface CommandTarget {
  msg: LocalMessage;
  copy: HeaderValues;
  rights: Rights;
  settings: LocalSettings;
  env: Record<string, string>; // HOME USER ... as local(8) documents
  cwd: string;
}

// Characters that need a shell; without them the command runs directly.
const SHELL_META = /[`"'\\$;&|<>()*?[\]{}~#!\n\t]/;

// Output kept for the bounce or defer reason.
const OUTPUT_LIMIT = 2000;

export function commandArgv(command: string, shell: string): string[] {
  if (shell) return [...shell.trim().split(/\s+/), command];
  if (SHELL_META.test(command)) return ['/bin/sh', '-c', command];
  return command.trim().split(/\s+/);
}

interface Finished {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  output: string;
  spawnError: string;
}

export async function deliverCommand(
  t: CommandTarget,
  command: string,
): Promise<Outcome> {
  const done = await runCommand(t, command);
  return commandOutcome(done, command);
}

function runCommand(t: CommandTarget, command: string): Promise<Finished> {
  const argv = commandArgv(command, t.settings.localCommandShell);
  const ids = isRoot() ? { uid: t.rights.uid, gid: t.rights.gid } : {};
  // The child's setuid needs root's rights, not the ones local rests with.
  leaveRest();
  // XXX mailbox_size_limit does not bind commands: Postfix sets
  // RLIMIT_FSIZE for the child, and Node's spawn has no rlimit option.
  const child = spawn(argv[0], argv.slice(1), {
    ...ids,
    env: t.env,
    cwd: t.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    // Its own process group, so that the time limit reaches all of it.
    detached: true,
  });
  const result: Finished = {
    code: null,
    signal: null,
    timedOut: false,
    output: '',
    spawnError: '',
  };
  keepOutput(child, result);
  void feedCommand(child.stdin, t);
  return waitForExit(child, result, t.settings.commandTimeLimit);
}

function killGroup(child: ChildProcess): void {
  try {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

function keepOutput(child: ChildProcess, result: Finished): void {
  const keep = (chunk: Buffer) => {
    if (result.output.length < OUTPUT_LIMIT)
      result.output += chunk.toString('utf8');
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
}

// command_time_limit: the command and what it started are killed.
function waitForExit(
  child: ChildProcess,
  result: Finished,
  limitSeconds: number,
): Promise<Finished> {
  const timer = setTimeout(() => {
    result.timedOut = true;
    killGroup(child);
  }, limitSeconds * 1000);
  return new Promise((resolve) => {
    child.once('error', (err) => {
      result.spawnError = err.message;
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ ...result, code, signal });
    });
  });
}

// A command may exit without reading all input; that is its answer, not
// a write error of ours, so EPIPE is ignored.
async function feedCommand(
  stdin: NodeJS.WritableStream,
  t: CommandTarget,
): Promise<void> {
  stdin.on('error', () => undefined);
  try {
    for (const chunk of messageChunks(t.msg, { ...t.copy, ...COPY_COMMAND }))
      if (!stdin.write(chunk))
        await new Promise((resolve) => {
          stdin.once('drain', resolve);
          stdin.once('close', resolve);
        });
  } finally {
    stdin.end();
  }
}

function commandOutcome(f: Finished, command: string): Outcome {
  const cmd = printable(command, 100);
  const output = printable(f.output.trim().replace(/\s+/g, ' '), 500);
  const tail = output ? `. Command output: ${output}` : '';
  if (f.spawnError)
    return deferred('4.3.0', `cannot execute command: ${f.spawnError}`);
  if (f.timedOut)
    return deferred('4.3.0', `Command time limit exceeded: "${cmd}"${tail}`);
  if (f.signal)
    return deferred(
      '4.3.0',
      `Command died with signal ${signalNumber(f.signal)}: "${cmd}"${tail}`,
    );
  if (f.code === 0) return sent(`delivered to command: ${cmd}`);
  return exitOutcome(f.code ?? 1, cmd, output, tail);
}

function exitOutcome(
  code: number,
  cmd: string,
  output: string,
  tail: string,
): Outcome {
  // A command that starts its output with an RFC 3463 code decides it.
  const own = /^([245])\.(\d{1,3})\.(\d{1,3})\s/.exec(output);
  const known = SYS_EXITS[code];
  const text = known
    ? `${known[1]}${tail}`
    : `Command died with status ${code}: "${cmd}"${tail}`;
  const dsn = own ? own[0].trim() : known ? known[0] : '5.3.0';
  if (dsn.startsWith('2')) return sent(`delivered to command: ${cmd}`);
  return dsn.startsWith('4') ? deferred(dsn, text) : bounced(dsn, text);
}

function signalNumber(name: string): number {
  return (os.constants.signals as Record<string, number>)[name] ?? 0;
}
