// Test support for the submission and queue commands: a temporary
// instance with a real cleanup (cleanup_testkit.ts), the commands run as
// real node processes on its configuration, and pickup's scan run
// in-process. Tests only; no command imports it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type SpawnOptions } from 'node:child_process';
import {
  startCleanup,
  type CleanupHarness,
} from '../../services/cleanup/cleanup_testkit';
import { scanMaildrop } from '../../services/pickup/pickup_scan';
import { QUEUE } from '../queue/mail_queue';

export const COMMAND_DIR = __dirname;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Buffer | NodeJS.ReadableStream;
  uid?: number;
  gid?: number;
  file?: string; // run this executable instead of node <name>.js
  argv0Name?: string; // run <argv0Name>.js (mailq)
}

export function runCommand(
  configDir: string,
  name: string,
  args: string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const file = opts.file ?? process.execPath;
  const argv = opts.file
    ? args
    : [path.join(COMMAND_DIR, `${name}.js`), ...args];
  const spawnOpts: SpawnOptions = {
    env: { ...process.env, MAIL_CONFIG: configDir },
    stdio: 'pipe',
  };
  if (opts.uid !== undefined)
    Object.assign(spawnOpts, { uid: opts.uid, gid: opts.gid, cwd: '/' });
  const child = spawn(file, argv, spawnOpts);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (c) => out.push(c));
  child.stderr!.on('data', (c) => err.push(c));
  child.stdin!.on('error', () => undefined);
  const input = opts.input;
  if (
    input === undefined ||
    typeof input === 'string' ||
    Buffer.isBuffer(input)
  )
    child.stdin!.end(input ?? '');
  else input.pipe(child.stdin!);
  return new Promise((resolve) =>
    child.on('close', (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      }),
    ),
  );
}

export function queueNames(queueDir: string, queue: string): string[] {
  return fs.readdirSync(path.join(queueDir, queue)).sort();
}

export interface SubmitInstance extends CleanupHarness {
  configDir: string;
  pickup(): Promise<number>;
  sendmail(args: string[], opts?: RunOptions): Promise<RunResult>;
  incoming(): string[];
}

// The uid pickup treats as mail_owner for requeued files.
export function mailOwnerUid(): number {
  return process.getuid?.() ?? 0;
}

export async function startSubmitInstance(
  mainCf = '',
  given?: string,
): Promise<SubmitInstance> {
  const h = await startCleanup(mainCf, given);
  return Object.assign(h, {
    configDir: h.dir,
    pickup: () => scanMaildrop(h.queueDir, mailOwnerUid()),
    sendmail: (args: string[], opts?: RunOptions) =>
      runCommand(h.dir, 'sendmail', args, opts),
    incoming: () =>
      queueNames(h.queueDir, QUEUE.INCOMING).map((n) =>
        path.join(h.queueDir, QUEUE.INCOMING, n),
      ),
  });
}
