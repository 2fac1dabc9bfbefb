// Users for local delivery: passwd lookups and running file work with a
// user's rights. Rights switch with seteuid for one synchronous block, so
// no other work (Node's thread pool included) runs while switched; only
// mail_owner's rights stay between blocks (restAs). Known limit: passwd
// comes from /etc/passwd, not from NSS (LDAP, NIS).

import * as fs from 'node:fs';
import type { Rights } from './local_state';

const PASSWD_FILE = '/etc/passwd';

interface PasswdCache {
  mtimeMs: number;
  size: number;
  byName: Map<string, Rights>;
}

let cache: PasswdCache | null = null;

// XXX passwd entries come from /etc/passwd only: users from NSS sources
// (LDAP, NIS, systemd-homed) are unknown until a getpwnam binding exists.
export function getpwnam(name: string): Rights | null {
  return passwd().get(name) ?? null;
}

export function getpwuid(uid: number): Rights | null {
  for (const r of passwd().values()) if (r.uid === uid) return r;
  return null;
}

// Reread when the file changed, so that new users need no restart.
function passwd(): Map<string, Rights> {
  const st = fs.statSync(PASSWD_FILE);
  if (!cache || cache.mtimeMs !== st.mtimeMs || cache.size !== st.size)
    cache = {
      mtimeMs: st.mtimeMs,
      size: st.size,
      byName: parsePasswd(fs.readFileSync(PASSWD_FILE, 'utf8')),
    };
  return cache.byName;
}

function parsePasswd(text: string): Map<string, Rights> {
  const out = new Map<string, Rights>();
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !f[0] || f[0].startsWith('+')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    if (!out.has(f[0]))
      out.set(f[0], { name: f[0], uid, gid, home: f[5], shell: f[6] });
  }
  return out;
}

// True when started as root: euid 0, or resting with mail_owner's rights
// (restAs), which are ours to leave at any time.
export function isRoot(): boolean {
  if (resting) return true;
  return typeof process.geteuid === 'function' && process.geteuid() === 0;
}

// The rights of the process itself, for an unprivileged instance.
export function selfRights(): Rights {
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  return (
    getpwuid(uid) ?? {
      name: `${uid}`,
      uid,
      gid,
      home: '',
      shell: '',
    }
  );
}

// The rights local rests with between deliveries instead of root's, and
// whether it does now: mail for names without a passwd entry is written
// with mail_owner's rights (the embedded default: every address), and a
// switch costs a signal to each thread per setxid call.
let restRights: Rights | null = null;
let resting = false;

// Set by local.ts once: mail_owner's rights, or null for none. What
// local does outside asUser must work with them or call leaveRest first:
// the queue file, private/ and public/ are mail_owner's.
export function restAs(rights: Rights | null): void {
  restRights = rights && rights.uid !== 0 ? rights : null;
}

// Back to root's rights for work that needs them (a spool directory,
// spawning a command as a user); true when a switch was made.
export function leaveRest(): boolean {
  if (!resting) return false;
  process.seteuid!(0);
  resting = false;
  return true;
}

function isRest(rights: Rights): boolean {
  return (
    restRights !== null &&
    rights.uid === restRights.uid &&
    rights.gid === restRights.gid
  );
}

// True once root's supplementary groups are gone (clearRootGroups).
let groupsCleared = false;

// Root passes every access check without supplementary groups, and with
// none a switch needs no setgroups either way: the user then has just
// the egid, as setgroups([gid]) would give. glibc signals every thread
// for each of these calls, so this saves a third of each switch.
export function clearRootGroups(): void {
  if (!isRoot()) return;
  process.setgroups!([]);
  groupsCleared = true;
}

// Run fn with the effective uid and gid of rights. fn must not await:
// seteuid changes every thread of the process.
export function asUser<T>(rights: Rights, fn: () => T): T {
  if (!isRoot()) return fn();
  if (rights.uid === 0) return asRoot(fn);
  if (groupsCleared) return withIds(rights, fn, true);
  leaveRest();
  const groups = process.getgroups!();
  process.setgroups!([rights.gid]);
  try {
    return withIds(rights, fn, false);
  } finally {
    process.setgroups!(groups);
  }
}

// Run fn with root's rights; the process stays root afterwards.
export function asRoot<T>(fn: () => T): T {
  leaveRest();
  return fn();
}

// The effective gid is left at the user's when fn is done: glibc signals
// every thread for each setegid, and the next delivery, most often to
// the same user, then needs none. Back at euid 0 the gid grants nothing
// more (root passes every access check); a file that local then makes
// as root gets its owner and group set explicitly (fchown, chown). With
// the rest rights (restAs) the process stays switched after fn.
function withIds<T>(rights: Rights, fn: () => T, mayRest: boolean): T {
  if (resting && isRest(rights)) return fn();
  leaveRest();
  if (process.getegid!() !== rights.gid) process.setegid!(rights.gid);
  process.seteuid!(rights.uid);
  let ok = false;
  try {
    const result = fn();
    ok = true;
    return result;
  } finally {
    if (ok && mayRest && isRest(rights)) resting = true;
    else process.seteuid!(0);
  }
}
