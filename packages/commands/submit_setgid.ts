// installSetgidPrograms, for `postfix set-permissions`: compile
// scripts/setgid_launcher/launcher.c with gcc for postdrop and postqueue
// (node, script and config directory fixed inside), root:setgid_group,
// mode 2755. Limits: needs gcc and root; dist/ must be writable by root
// only, or the setgid bit protects nothing.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Config } from '../config/config';
import { getgrnam } from '../util/passwd';

export const SETGID_PROGRAMS = ['postdrop', 'postqueue'] as const;
const SETGID_MODE = 0o2755;

const LAUNCHER_SOURCE = path.resolve(
  __dirname,
  '..',
  '..',
  '..',
  'scripts',
  'setgid_launcher',
  'launcher.c',
);

// A C string literal: the paths are ours, but quote them anyway.
function cString(text: string): string {
  if (/[\x00-\x1f"\\]/.test(text))
    throw new Error(`cString: unusable path: ${JSON.stringify(text)}`);
  return `"${text}"`;
}

function compile(program: string, target: string, configDir: string): void {
  const script = path.join(__dirname, `${program}.js`);
  const temp = `${target}.${process.pid}.tmp`;
  execFileSync('gcc', [
    '-O2',
    `-DNODE_PATH=${cString(process.execPath)}`,
    `-DSCRIPT_PATH=${cString(script)}`,
    `-DCONFIG_DIR=${cString(configDir)}`,
    '-o',
    temp,
    LAUNCHER_SOURCE,
  ]);
  fs.renameSync(temp, target);
}

// Returns the installed paths. Throws with the reason when it cannot.
export function installSetgidPrograms(config: Config): string[] {
  const group = getgrnam(config.get('setgid_group'));
  if (!group)
    throw new Error(
      `installSetgidPrograms: unknown setgid_group: ${config.get('setgid_group')}`,
    );
  const dir = config.get('command_directory');
  fs.mkdirSync(dir, { recursive: true });
  const installed: string[] = [];
  for (const program of SETGID_PROGRAMS) {
    const target = path.join(dir, program);
    compile(program, target, config.configDir);
    fs.chownSync(target, 0, group.gid);
    fs.chmodSync(target, SETGID_MODE);
    installed.push(target);
  }
  return installed;
}
