// The command attributes of a pipe(8) service, from its master.cf
// arguments: flags=, user=, size=, eol=, null_sender=, directory= and
// argv= (the rest of the line). Used by pipe.ts once at start; a bad
// attribute is fatal, as in Postfix, since every delivery would fail.

import * as fs from 'node:fs';
import { getpwnam } from '../local/local_user';
import type { Rights } from '../local/local_state';

export interface PipeAttr {
  flags: string; // the letters of flags=, each at most once
  rights: Rights; // user=name[:group]
  argv: string[]; // still with ${name} macros
  size: number; // size=; 0 for no limit
  eol: string; // eol=, with \n \r \t escapes decoded
  nullSender: string; // null_sender=; what ${sender} is for <>
  directory: string; // directory=; the command's working directory
}

export class PipeAttrError extends Error {}

// Postfix's pipe flags (pipe(8) "flags="); any other letter is an error.
export const PIPE_FLAGS = 'BDFORXhqu.>';

const KNOWN = ['flags', 'user', 'size', 'eol', 'null_sender', 'directory'];

export interface AttrDefaults {
  mailOwner: string;
  queueDir: string;
}

export function parsePipeAttr(args: string[], d: AttrDefaults): PipeAttr {
  const found = new Map<string, string>();
  let argv: string[] | undefined;
  for (let i = 0; i < args.length && !argv; i++) {
    const m = /^([a-z_]+)=(.*)$/s.exec(args[i]);
    if (!m) throw new PipeAttrError(`unknown attribute name: ${args[i]}`);
    if (m[1] === 'argv') argv = [m[2], ...args.slice(i + 1)].filter(Boolean);
    else if (KNOWN.includes(m[1])) found.set(m[1], m[2]);
    else if (m[1] === 'chroot')
      // XXX chroot= is refused: this installation never chroots (see
      // master.cf), and Node cannot chroot a child without a helper.
      throw new PipeAttrError(
        'chroot= command-line attribute is not supported',
      );
    else throw new PipeAttrError(`unknown attribute name: ${m[1]}`);
  }
  if (!argv?.length)
    throw new PipeAttrError('missing argv= command-line attribute');
  return {
    flags: checkFlags(found.get('flags') ?? ''),
    rights: userRights(found.get('user'), d.mailOwner),
    argv,
    size: sizeLimit(found.get('size') ?? '0'),
    eol: unescape(found.get('eol') ?? '\\n'),
    nullSender: found.get('null_sender') ?? 'MAILER-DAEMON',
    directory: found.get('directory') || d.queueDir,
  };
}

function checkFlags(text: string): string {
  for (const ch of text)
    if (!PIPE_FLAGS.includes(ch))
      throw new PipeAttrError(`unknown flag: ${ch}`);
  return text;
}

function sizeLimit(text: string): number {
  if (!/^\d+$/.test(text))
    throw new PipeAttrError(`size= command-line attribute: bad value: ${text}`);
  return Number(text);
}

function unescape(text: string): string {
  const map: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\' };
  return text.replace(/\\(.)/g, (all, ch: string) => map[ch] ?? all);
}

// The command never runs as root nor as the mail system's owner: either
// would let a message's content act with rights over the whole system.
export function userRights(spec: string | undefined, mailOwner: string) {
  if (!spec) throw new PipeAttrError('missing user= command-line attribute');
  const [name, group] = spec.split(':', 2);
  const user = getpwnam(name);
  if (!user)
    throw new PipeAttrError(
      `user= command-line attribute: unknown user: ${name}`,
    );
  const gid = group === undefined ? user.gid : groupId(group);
  if (user.uid === 0 || gid === 0)
    throw new PipeAttrError(
      'user= command-line attribute specifies root privileges',
    );
  if (name === mailOwner)
    throw new PipeAttrError(
      'user= command-line attribute specifies mail system owner ' + mailOwner,
    );
  return { ...user, gid };
}

// A group name from /etc/group, or a number.
function groupId(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  const text = fs.readFileSync('/etc/group', 'utf8');
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && /^\d+$/.test(f[2] ?? '')) return Number(f[2]);
  }
  throw new PipeAttrError(
    `user= command-line attribute: unknown group: ${name}`,
  );
}
