// The local delivery decision for one address, in Postfix's order: loop
// and duplicate checks, \user, alias_maps (user+ext, then user), forward
// to other owners, passwd, .forward, then the mailbox (mailbox_command,
// home_mailbox, mail_spool_directory), else luser_relay or a bounce.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { msg } from '../../packages/log/log';
import { deliverAlias } from './local_alias';
import { commandEnv, copyHeaders, privsFor, splitAddress } from './local_attr';
import { deliverCommand } from './local_command';
import { localExpand } from './local_expand';
import { deliverFile } from './local_file';
import { deliverDotForward, forwardVars } from './local_forward';
import { deliverMaildir, maildirKey } from './local_maildir';
import { deliverMbox } from './local_mailbox';
import { forwardLater } from './local_resubmit';
import { deliverTokens } from './local_token';
import { asUser, getpwnam, isRoot, selfRights } from './local_user';
import {
  beenHere,
  bounced,
  deferred,
  DeliveryFailure,
  errnoText,
  type DeliveryAttr,
  type LocalAddress,
  type LocalContext,
  type Outcome,
  type Rights,
} from './local_state';

// A user name that is safe as a file name in mail_spool_directory, for
// names that do not come from passwd.
const SAFE_USER = /^[a-z0-9_][a-z0-9._+-]*$/;

export async function deliverRecipient(
  ctx: LocalContext,
  attr: DeliveryAttr,
): Promise<void> {
  const address = attr.recipient;
  if (beenHere(ctx, `recipient ${attr.level} ${address.toLowerCase()}`)) return;
  if (ctx.msg.deliveredTo.has(address.toLowerCase())) {
    const why = `mail forwarding loop for ${address}`;
    ctx.record(attr, bounced('5.4.6', why));
    return;
  }
  const rcpt = splitAddress(address, ctx.settings.recipientDelimiter);
  if (rcpt.extension.includes('/')) {
    msg.warn(
      `${ctx.msg.queueId}: address with illegal extension: ` + `${rcpt.local}`,
    );
    rcpt.user = rcpt.local;
    rcpt.extension = '';
  }
  if (!rcpt.user || rcpt.user === '\\') {
    ctx.record(attr, bounced('5.1.3', `null username in "${address}"`));
    return;
  }
  await deliverSwitch(ctx, { ...attr, unmatched: rcpt.extension }, rcpt);
}

async function deliverSwitch(
  ctx: LocalContext,
  attr: DeliveryAttr,
  rcpt: LocalAddress,
): Promise<void> {
  // \user: the mailbox only, no alias and no .forward.
  if (rcpt.local.startsWith('\\')) {
    const address = rcpt.address.slice(1);
    const bare = { ...rcpt, address, local: rcpt.local.slice(1) };
    bare.user = bare.user.slice(1);
    return deliverUser(ctx, { ...attr, recipient: address }, bare, false);
  }
  if (await deliverAlias(ctx, { ...attr, unmatched: '' }, rcpt.local)) return;
  if (rcpt.extension) {
    const prop = ctx.settings.propagateUnmatchedExtensions.includes('alias');
    const withExt = { ...attr, unmatched: prop ? rcpt.extension : '' };
    if (await deliverAlias(ctx, withExt, rcpt.user)) return;
  }

  // Mail that an owner- alias or another user's .forward sends on to
  // this user becomes a new message, with its own queue file record.
  if (attr.owner && attr.owner.toLowerCase() !== rcpt.user)
    return forwardLater(ctx, { attr, address: attr.recipient });
  if (attr.origin === 'include')
    return forwardLater(ctx, { attr, address: attr.recipient });
  return deliverUser(ctx, attr, rcpt, true);
}

async function deliverUser(
  ctx: LocalContext,
  attr: DeliveryAttr,
  rcpt: LocalAddress,
  dotForward: boolean,
): Promise<void> {
  const user = passwdFor(ctx, rcpt.user);
  if (!user) {
    if (ctx.settings.withoutPasswd)
      return deliverWithoutPasswd(ctx, attr, rcpt);
    return deliverUnknown(ctx, attr, rcpt);
  }
  const home = homeProblem(user);
  if (home) return ctx.record(attr, home);
  const own = { ...attr, rights: user };
  if (dotForward && (await deliverDotForward(ctx, own, rcpt, user))) return;
  // One copy per mailbox, however many expansions lead to it.
  if (beenHere(ctx, `mailbox ${rcpt.user}`)) return;
  ctx.record(attr, await deliverMailbox(ctx, own, rcpt, user));
}

// With no root rights another user's files are out of reach; with
// local_delivery_without_passwd that user is treated as having no
// passwd entry rather than deferred.
function passwdFor(ctx: LocalContext, name: string): Rights | null {
  const pw = getpwnam(name);
  if (!pw || isRoot() || !ctx.settings.withoutPasswd) return pw;
  return pw.uid === process.geteuid!() ? pw : null;
}

function homeProblem(user: Rights): Outcome | null {
  try {
    asUser(user, () => fs.statSync(user.home));
    return null;
  } catch (err) {
    return deferred(
      '4.3.0',
      `cannot access home directory ${user.home}: ${errnoText(err)}`,
    );
  }
}

// Started as root, mail for names without a passwd entry is written with
// mail_owner's rights, who owns the rest of the instance; never as root.
function withoutPasswdRights(ctx: LocalContext): Rights {
  if (!isRoot()) return selfRights();
  const pw = getpwnam(ctx.settings.mailOwner);
  return pw ?? selfRights();
}

async function deliverWithoutPasswd(
  ctx: LocalContext,
  attr: DeliveryAttr,
  rcpt: LocalAddress,
): Promise<void> {
  if (!SAFE_USER.test(rcpt.user)) {
    ctx.record(attr, bounced('5.1.3', `bad user name: "${rcpt.user}"`));
    return;
  }
  if (beenHere(ctx, `mailbox ${rcpt.user}`)) return;
  const self = withoutPasswdRights(ctx);
  const own = { ...attr, rights: self };
  ctx.record(attr, await deliverSpool(ctx, own, rcpt.user, self));
}

// mailbox_command, then home_mailbox, then mail_spool_directory/user.
// XXX mailbox_transport(_maps), mailbox_command_maps and
// fallback_transport(_maps) are not implemented: mail for such setups is
// delivered by the agent itself.
async function deliverMailbox(
  ctx: LocalContext,
  attr: DeliveryAttr,
  rcpt: LocalAddress,
  user: Rights,
): Promise<Outcome> {
  const s = ctx.settings;
  const rights = user;
  if (s.mailboxCommand) {
    const cmd = localExpand(s.mailboxCommand, forwardVars(ctx, rcpt, user));
    return runCommand(ctx, { ...attr, rights }, rcpt, cmd.text);
  }
  if (s.homeMailbox) {
    const file = path.join(user.home, s.homeMailbox);
    const target = mailboxTarget(ctx, attr, rights);
    if (s.homeMailbox.endsWith('/')) return deliverMaildir(target, file + '/');
    return deliverMbox(target, file, {
      inSpool: false,
      success: 'delivered to mailbox',
    });
  }
  return deliverSpool(ctx, attr, rcpt.user, rights);
}

function mailboxTarget(ctx: LocalContext, attr: DeliveryAttr, rights: Rights) {
  return {
    msg: ctx.msg,
    copy: copyHeaders(ctx, attr, 'mailbox'),
    rights,
    settings: ctx.settings,
    key: maildirKey(ctx.msg, attr),
  };
}

async function deliverSpool(
  ctx: LocalContext,
  attr: DeliveryAttr,
  name: string,
  rights: Rights,
): Promise<Outcome> {
  const spool = ctx.settings.mailSpoolDirectory;
  const target = mailboxTarget(ctx, attr, rights);
  if (spool.endsWith('/'))
    return deliverMaildir(target, path.join(spool, name) + '/', true);
  return deliverMbox(target, path.join(spool, name), {
    inSpool: true,
    success: 'delivered to mailbox',
  });
}

// luser_relay, else the bounce that Postfix gives an unknown user.
async function deliverUnknown(
  ctx: LocalContext,
  attr: DeliveryAttr,
  rcpt: LocalAddress,
): Promise<void> {
  const relay = ctx.settings.luserRelay;
  if (!relay) {
    ctx.record(attr, bounced('5.1.1', `unknown user: "${rcpt.user}"`));
    return;
  }
  const vars = {
    user: rcpt.user,
    local: rcpt.local,
    extension: rcpt.extension,
    domain: rcpt.domain,
    recipient: rcpt.address,
    recipient_delimiter: ctx.settings.recipientDelimiter,
  };
  const next = { ...attr, origin: 'alias' as const, level: attr.level + 1 };
  await deliverTokens(ctx, next, localExpand(relay, vars).text);
}

// An address from an expansion: here again when local, else forwarded.
export async function deliverAddressToken(
  ctx: LocalContext,
  attr: DeliveryAttr,
  address: string,
): Promise<void> {
  // \user keeps its backslash through address rewriting.
  const quoted = address.startsWith('\\') ? '\\' : '';
  const bare = withExtension(ctx, attr, address.slice(quoted.length));
  const resolved = await ctx.resolve(bare);
  if (resolved.fail) {
    ctx.record(attr, deferred('4.3.0', 'address resolver failure'));
    return;
  }
  const next = { ...attr, recipient: quoted + resolved.address };
  if (!resolved.local)
    return forwardLater(ctx, { attr: next, address: resolved.address });
  await deliverRecipient(ctx, { ...next, level: attr.level + 1 });
}

// propagate_unmatched_extensions: user+foo that matched only "user"
// passes +foo on to each address of the expansion.
function withExtension(
  ctx: LocalContext,
  attr: DeliveryAttr,
  address: string,
): string {
  const delim = ctx.settings.recipientDelimiter;
  if (!attr.unmatched || !delim) return address;
  const at = address.lastIndexOf('@');
  const local = at < 0 ? address : address.slice(0, at);
  const domain = at < 0 ? '' : address.slice(at);
  return `${local}${delim[0]}${attr.unmatched}${domain}`;
}

export async function deliverCommandToken(
  ctx: LocalContext,
  attr: DeliveryAttr,
  command: string,
): Promise<void> {
  if (!ctx.settings.allowMailToCommands.includes(attr.origin)) {
    ctx.record(attr, bounced('5.7.1', 'mail to command is restricted'));
    return;
  }
  const rcpt = splitAddress(attr.recipient, ctx.settings.recipientDelimiter);
  ctx.record(attr, await runCommand(ctx, attr, rcpt, command));
}

async function runCommand(
  ctx: LocalContext,
  attr: DeliveryAttr,
  rcpt: LocalAddress,
  command: string,
): Promise<Outcome> {
  try {
    const rights = privsFor(ctx, attr);
    return await deliverCommand(
      {
        msg: ctx.msg,
        copy: copyHeaders(ctx, attr, 'command'),
        rights,
        settings: ctx.settings,
        env: commandEnv(ctx, attr, rights, rcpt),
        cwd: commandDirectory(rights),
      },
      command,
    );
  } catch (err) {
    if (err instanceof DeliveryFailure) return err.outcome;
    throw err;
  }
}

// The user's home when it can be entered, else the root directory.
function commandDirectory(rights: Rights): string {
  try {
    if (rights.home && fs.statSync(rights.home).isDirectory())
      return rights.home;
  } catch {
    // An unreachable home is no reason to fail a command delivery.
  }
  return '/';
}

export async function deliverFileToken(
  ctx: LocalContext,
  attr: DeliveryAttr,
  file: string,
): Promise<void> {
  ctx.record(attr, await deliverFile(ctx, attr, file));
}
