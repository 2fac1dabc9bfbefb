// unix:passwd.byname gives the passwd(5) line of a user, read from
// /etc/passwd; unix:group.byname the group(5) line. Used by local(8)'s
// local_recipient_maps. Known limit: only the files are read (no NSS,
// so LDAP or NIS users are not seen).

import type { Dict } from './dict';
import { DICT_FLAG } from './dict';
import { DictSyntaxError } from './dict_parse';
import { FileStamp } from './dict_file';
import * as fs from 'node:fs';

const MAPS: Record<string, string> = {
  'passwd.byname': '/etc/passwd',
  'group.byname': '/etc/group',
};

export function openUnix(name: string): Dict {
  const file = MAPS[name];
  if (!file) throw new DictSyntaxError(`unknown table: unix:${name}`);
  const stamp = new FileStamp(file);
  let table = readColonFile(file);
  return {
    type: 'unix',
    name,
    flags: DICT_FLAG.FIXED,
    lookup: async (key) => {
      if (stamp.changed()) table = readColonFile(file);
      return table.get(key);
    },
    close: () => table.clear(),
  };
}

// The first field names the entry; the first line for a name wins, as
// getpwnam() returns it.
function readColonFile(file: string): Map<string, string> {
  const table = new Map<string, string>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line || line.startsWith('#') || line.startsWith('+')) continue;
    const name = line.slice(0, line.indexOf(':'));
    if (name && !table.has(name)) table.set(name, line);
  }
  return table;
}
