// Look up users and groups in /etc/passwd and /etc/group, which Node has
// no call for. Used by master and the skeleton to drop privileges, and by
// commands that report user names. Limits: files only, no NSS (LDAP, NIS).

import * as fs from 'node:fs';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  gecos: string;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function readLines(file: string): string[][] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => line.split(':'));
}

function toPasswd(f: string[]): PasswdEntry {
  return {
    name: f[0],
    uid: Number(f[2]),
    gid: Number(f[3]),
    gecos: f[4] ?? '',
    home: f[5] ?? '',
    shell: f[6] ?? '',
  };
}

export function getpwnam(name: string, file = '/etc/passwd') {
  const f = readLines(file).find((fields) => fields[0] === name);
  return f && f.length >= 7 ? toPasswd(f) : undefined;
}

export function getpwuid(uid: number, file = '/etc/passwd') {
  const f = readLines(file).find((fields) => Number(fields[2]) === uid);
  return f && f.length >= 7 ? toPasswd(f) : undefined;
}

export function getgrnam(name: string, file = '/etc/group') {
  const f = readLines(file).find((fields) => fields[0] === name);
  if (!f || f.length < 3) return undefined;
  const members = f[3] ? f[3].split(',').filter(Boolean) : [];
  return { name: f[0], gid: Number(f[2]), members } as GroupEntry;
}

export function getgrgid(gid: number, file = '/etc/group') {
  const f = readLines(file).find((fields) => Number(fields[2]) === gid);
  if (!f || f.length < 3) return undefined;
  const members = f[3] ? f[3].split(',').filter(Boolean) : [];
  return { name: f[0], gid: Number(f[2]), members } as GroupEntry;
}

// The user and group a daemon runs as: mail_owner when started as root,
// else whoever we are (the unprivileged embedded instance).
export function mailOwnerIds(mailOwner: string): {
  uid: number;
  gid: number;
} {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) return { uid, gid: process.getgid?.() ?? 0 };
  const pw = getpwnam(mailOwner);
  if (!pw) throw new Error(`unknown mail_owner user: ${mailOwner}`);
  if (pw.uid === 0) throw new Error(`mail_owner must not be root`);
  return { uid: pw.uid, gid: pw.gid };
}
