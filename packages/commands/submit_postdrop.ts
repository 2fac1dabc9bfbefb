// How sendmail reaches postdrop: the setgid launcher that `postfix
// set-permissions` installs as $command_directory/postdrop when it is
// there, else node on postdrop.js beside this file (an unprivileged
// instance, where the user owns the queue). Used by sendmail.ts and
// postsuper -r; postqueue is found the same way.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { decodeAttrs } from '../ipc/attr';

export interface ProgramPath {
  file: string;
  args: string[];
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

// The programs scripts/build_commands.js bundles.
const BUNDLED = new Set(['sendmail', 'postdrop', 'postqueue']);

export function programPath(
  commandDir: string,
  name: string,
  configDir: string,
): ProgramPath {
  const launcher = path.join(commandDir, name);
  if (isExecutable(launcher)) return { file: launcher, args: [] };
  if (!BUNDLED.has(name)) {
    const script = path.join(__dirname, `${name}.js`);
    return { file: process.execPath, args: [script, '-c', configDir] };
  }
  // The loader runs the program's bundle with its code cache, else the
  // compiled file; it sits beside this module in dist and in a bundle.
  const loader = path.join(__dirname, 'sendmail_loader.js');
  return {
    file: process.execPath,
    args: [loader, name, name, '-c', configDir],
  };
}

export function spawnProgram(
  where: ProgramPath,
  args: string[],
  stdio: 'pipe' | 'inherit',
): ChildProcess {
  return spawn(where.file, [...where.args, ...args], {
    stdio: stdio === 'pipe' ? ['pipe', 'pipe', 'inherit'] : 'inherit',
  });
}

// postdrop answers queue_id=ID when it has a file, status=N when done.
export function parseReplies(out: Buffer): Record<string, string> {
  const all: Record<string, string> = {};
  for (let at = 0; at < out.length;) {
    const reply = decodeAttrs(out.subarray(at));
    if (!reply) break;
    Object.assign(all, reply.attrs);
    at += reply.used;
  }
  return all;
}
