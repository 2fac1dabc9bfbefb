// The queue tree's owners and modes as Postfix's postfix-files gives them:
// created by "postfix start" and "postfix check", enforced by "postfix
// set-permissions", reported by "postfix check". Started as an ordinary
// user (the embedded instance) everything belongs to that user.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config/config';
import { QUEUE_TREE, type QueueDirSpec } from '../queue/mail_queue';
import { getgrnam, getpwnam } from '../util/passwd';

export interface Ids {
  uid: number;
  gid: number;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

// Numeric owner and group for one entry of the tree.
export function treeIds(spec: QueueDirSpec, config: Config): Ids {
  if (!isRoot()) return { uid: process.getuid!(), gid: process.getgid!() };
  const owner = config.get('mail_owner');
  const pw = getpwnam(owner);
  if (!pw) throw new Error(`mail_owner: unknown user: ${owner}`);
  const uid = spec.owner === 'root' ? 0 : pw.uid;
  if (spec.group === 'root') return { uid, gid: 0 };
  if (spec.group === 'mail_owner') return { uid, gid: pw.gid };
  const group = config.get('setgid_group');
  const gr = getgrnam(group);
  if (!gr) throw new Error(`setgid_group: unknown group: ${group}`);
  return { uid, gid: gr.gid };
}

// Create what is missing; with fix, also reset owners and modes of what
// exists (set-permissions).
export function makeQueueDirs(config: Config, fix: boolean): void {
  const queueDir = config.get('queue_directory');
  for (const spec of QUEUE_TREE) {
    const dir = path.join(queueDir, spec.name);
    const existed = fs.existsSync(dir);
    if (!existed) fs.mkdirSync(dir, { recursive: true, mode: spec.mode });
    if (existed && !fix) continue;
    fs.chmodSync(dir, spec.mode);
    if (isRoot()) {
      const ids = treeIds(spec, config);
      fs.chownSync(dir, ids.uid, ids.gid);
    }
  }
  const dataDir = config.get('data_directory');
  if (!fs.existsSync(dataDir))
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
}

// Warnings in Postfix's words for entries whose mode or owner is wrong.
export function checkQueueDirs(config: Config): string[] {
  const queueDir = config.get('queue_directory');
  const warnings: string[] = [];
  for (const spec of QUEUE_TREE) {
    const dir = path.join(queueDir, spec.name);
    let st: fs.Stats;
    try {
      st = fs.statSync(dir);
    } catch {
      warnings.push(`${dir}: No such file or directory`);
      continue;
    }
    const mode = st.mode & 0o7777;
    if (mode !== spec.mode)
      warnings.push(
        `${dir}: bad permissions: ${mode.toString(8).padStart(4, '0')} ` +
          `(expected ${spec.mode.toString(8).padStart(4, '0')})`,
      );
    const ids = treeIds(spec, config);
    if (st.uid !== ids.uid || st.gid !== ids.gid)
      warnings.push(`${dir}: not owned by ${ids.uid}:${ids.gid}`);
  }
  return warnings;
}
