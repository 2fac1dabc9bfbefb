// Postfix's authorized_submit_users, authorized_mailq_users and
// authorized_flush_users: a list of login names, "!name" exclusions and
// lookup tables, the first match deciding. Used by sendmail, postdrop
// and postqueue. The default static:anyone is decided without loading
// the table code, which keeps sendmail's start-up short.

import { Config } from '../config/config';
import { getpwuid } from '../util/passwd';
import { CommandExit, EX } from './submit_exit';

async function matches(
  item: string,
  user: string,
  config: Config,
): Promise<boolean> {
  if (item === 'static:anyone') return true;
  if (!item.includes(':')) return item === user;
  const { dictOpen } = await import('../tables/dict');
  const dict = dictOpen(item, { config });
  try {
    return (await dict.lookup(user)) !== undefined;
  } finally {
    dict.close();
  }
}

export async function isAuthorized(
  config: Config,
  param: string,
  user: string,
): Promise<boolean> {
  for (const entry of config.list(param)) {
    const negate = entry.startsWith('!');
    if (await matches(negate ? entry.slice(1) : entry, user, config))
      return !negate;
  }
  return false;
}

export function invokingUser(): { name: string; uid: number } {
  const uid = process.getuid?.() ?? 0;
  return { name: getpwuid(uid)?.name ?? `#${uid}`, uid };
}

// Postfix's words: "User alice(1001) is not allowed to submit mail".
export async function requireAuthorized(
  config: Config,
  param: string,
  what: string,
): Promise<void> {
  const user = invokingUser();
  if (!(await isAuthorized(config, param, user.name)))
    throw new CommandExit(
      EX.NOPERM,
      `User ${user.name}(${user.uid}) is not allowed to ${what}`,
    );
}
