// Access policy for smtpd: restriction lists, mynetworks, the relay and
// unknown-local-user checks, Postfix's reply texts and log lines; access
// actions for cleanup (HOLD, DISCARD, FILTER, REDIRECT, BCC, PREPEND) are
// saved on the state for smtpd_cleanup.ts. Used by smtpd_proto.ts. Limits:
// a restriction not in RESTRICTIONS answers 451 4.3.5 and is logged.

// XXX reject_rbl_client, reject_unknown_helo_hostname,
// reject_unknown_client_hostname, check_policy_service and restriction
// classes are not written yet: they answer 451 4.3.5 as unknown.

import * as net from 'node:net';
import * as os from 'node:os';
import { Config } from '../../packages/config/config';
import { Maps, DictError, DictConfigError } from '../../packages/tables/dict';
import { DomainList } from '../../packages/address/domain_list';
import { splitAddress } from '../../packages/address/address';
import { msg } from '../../packages/log/log';
import { unknownVirtualMailbox } from '../virtual/virtual_recipient';
import {
  ALIAS_KNOWN,
  virtualAliasVerdict,
} from '../cleanup/cleanup_rcpt_check';
import { Reply, reply, replyText } from './smtpd_chat';
import { emptyActions, SavedActions, SmtpdState } from './smtpd_state';
import {
  RECEIVE_OVERRIDE,
  receiveOverrides,
} from '../cleanup/cleanup_input_transp';
import { param } from './smtpd_settings';
import {
  DomainFinder,
  fqdnHostname,
  heloReply,
  nonFqdnAddress,
  nonFqdnReply,
  unknownDomainReply,
  validHostname,
} from './smtpd_check_name';
import {
  ACCESS,
  accessAction,
  addressKeys,
  clientKeys,
  heloKeys,
  lookupKeys,
} from './smtpd_access';

export const DECISION = {
  PERMIT: 'permit',
  REJECT: 'reject', // also defer: a reply ends the evaluation
  DUNNO: 'dunno',
} as const;

type Decision = (typeof DECISION)[keyof typeof DECISION];

interface Verdict {
  decision: Decision;
  reply?: Reply;
}

// What a list is about, for the reply text ("Client host rejected").
interface Subject {
  klass: string;
  value: string; // the text between < and > in the reply
}

interface CheckContext {
  state: SmtpdState;
  recipient: string;
  subject: Subject;
}

const RELAY_GUARDS = [
  'reject_unauth_destination',
  'defer_unauth_destination',
  'reject',
  'defer',
  'defer_if_permit',
  'check_relay_domains',
];

// Postfix refuses to start as an open relay (smtpd_check.c).
export function relayGuardError(relay: string[], rcpt: string[]): string {
  const words = [...relay, ...rcpt].map((w) => w.toLowerCase());
  if (words.some((w) => RELAY_GUARDS.includes(w))) return '';
  return (
    'in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, ' +
    'specify at least one working instance of: reject_unauth_destination, ' +
    'defer_unauth_destination, reject, defer, defer_if_permit or ' +
    'check_relay_domains'
  );
}

const PASS: Verdict = { decision: DECISION.DUNNO };
const PERMIT: Verdict = { decision: DECISION.PERMIT };

type Restriction = (
  check: SmtpdCheck,
  ctx: CheckContext,
  table?: string,
) => Promise<Verdict>;

// Restrictions whose next word in the list is a table.
const ACCESS_CHECKS: Record<string, AccessKind> = {
  check_client_access: 'client',
  check_helo_access: 'helo',
  check_sender_access: 'sender',
  check_recipient_access: 'recipient',
};

type AccessKind = 'client' | 'helo' | 'sender' | 'recipient';

// Which clients the *_sender_login_mismatch restrictions judge: all,
// the SASL-authenticated, the others, or only senders the map knows.
const LOGIN_CHECK = {
  BOTH: 'both',
  AUTHENTICATED: 'authenticated',
  UNAUTHENTICATED: 'unauthenticated',
  KNOWN: 'known',
} as const;

type LoginCheck = (typeof LOGIN_CHECK)[keyof typeof LOGIN_CHECK];

const accessCheck =
  (kind: AccessKind): Restriction =>
  (check, ctx, table) =>
    check.accessCheck(kind, table!, ctx);

const RESTRICTIONS: Record<string, Restriction> = {
  permit: async () => PERMIT,
  dunno: async () => PASS,
  reject: async (check, ctx) => check.simpleReject(ctx, 'reject_code'),
  defer: async (check, ctx) => check.simpleReject(ctx, 'defer_code'),
  permit_mynetworks: async (check, ctx) =>
    check.inMynetworks(ctx.state.client.addr) ? PERMIT : PASS,
  permit_sasl_authenticated: async (_check, ctx) =>
    ctx.state.sasl ? PERMIT : PASS,
  permit_auth_destination: async (check, ctx) =>
    (await check.authorizedDestination(ctx.recipient)) ? PERMIT : PASS,
  reject_unauth_destination: async (check, ctx) =>
    check.unauthDestination(ctx, 0),
  defer_unauth_destination: async (check, ctx) =>
    check.unauthDestination(ctx, 100),
  reject_invalid_helo_hostname: async (check, ctx) =>
    check.heloName(ctx, false),
  reject_non_fqdn_helo_hostname: async (check, ctx) =>
    check.heloName(ctx, true),
  reject_non_fqdn_sender: async (check, ctx) =>
    check.nonFqdn(ctx, 'Sender address'),
  reject_non_fqdn_recipient: async (check, ctx) =>
    check.nonFqdn(ctx, 'Recipient address'),
  reject_unknown_sender_domain: (check, ctx) =>
    check.unknownDomain(ctx, 'Sender address'),
  reject_unknown_recipient_domain: (check, ctx) =>
    check.unknownDomain(ctx, 'Recipient address'),
  reject_sender_login_mismatch: (check, ctx) =>
    check.senderLogin(ctx, LOGIN_CHECK.BOTH),
  reject_authenticated_sender_login_mismatch: (check, ctx) =>
    check.senderLogin(ctx, LOGIN_CHECK.AUTHENTICATED),
  reject_known_sender_login_mismatch: (check, ctx) =>
    check.senderLogin(ctx, LOGIN_CHECK.KNOWN),
  reject_unauthenticated_sender_login_mismatch: (check, ctx) =>
    check.senderLogin(ctx, LOGIN_CHECK.UNAUTHENTICATED),
  check_client_access: accessCheck('client'),
  check_helo_access: accessCheck('helo'),
  check_sender_access: accessCheck('sender'),
  check_recipient_access: accessCheck('recipient'),
};

function loginReject(sender: string, why: string): Verdict {
  const text = `<${sender}>: Sender address rejected: ${why}`;
  return { decision: DECISION.REJECT, reply: reply(553, '5.7.1', text) };
}

function configError(why: string): Verdict {
  msg.warn(why);
  return {
    decision: DECISION.REJECT,
    reply: reply(451, '4.3.5', 'Server configuration error'),
  };
}

export class SmtpdCheck {
  #config: Config;
  #mynetworks: net.BlockList;
  #mydestination: DomainList;
  #relayDomains: DomainList;
  #virtualDomains: DomainList[];
  #localRecipients: Maps;
  #lists: Record<string, string[]>;
  #relayFirst: boolean;
  #delayReject: boolean;
  #tables = new Map<string, Maps>();
  #domains: DomainFinder;
  #overrides: number; // receive_override_options bits

  constructor(config: Config) {
    this.#config = config;
    const parents = param(config, 'parent_domain_matches_subdomains');
    const parentMatch = (n: string) => parents.split(/[\s,]+/).includes(n);
    const opts = { config };
    this.#mynetworks = buildNetworks(config.list('mynetworks'));
    this.#mydestination = new DomainList(
      'mydestination',
      config.get('mydestination'),
      parentMatch('mydestination'),
      opts,
    );
    this.#relayDomains = new DomainList(
      'relay_domains',
      param(config, 'relay_domains'),
      parentMatch('relay_domains'),
      opts,
    );
    this.#virtualDomains = [
      'virtual_alias_domains',
      'virtual_mailbox_domains',
    ].map((n) => new DomainList(n, param(config, n), parentMatch(n), opts));
    this.#localRecipients = new Maps(
      param(config, 'local_recipient_maps'),
      config,
    );
    this.#lists = readLists(config);
    this.#delayReject = config.bool('smtpd_delay_reject');
    this.#relayFirst = config.bool('smtpd_relay_before_recipient_restrictions');
    this.#domains = new DomainFinder(config.get('smtpd_dns_resolver_address'));
    this.#overrides = receiveOverrides(config);
  }

  get config(): Config {
    return this.#config;
  }

  inMynetworks(addr: string): boolean {
    return matchNetworks(this.#mynetworks, addr);
  }

  // local_header_rewrite_clients: which clients get "local" rewriting.
  // permit_inet_interfaces (Postfix's default) matches a client that
  // connects from one of our own addresses.
  // XXX only permit_inet_interfaces, permit_mynetworks and static:all
  // are understood; permit_sasl_authenticated and check_address_map
  // entries never match.
  rewriteContext(addr: string): 'local' | 'remote' {
    for (const item of this.#config.list('local_header_rewrite_clients')) {
      const rule = item.toLowerCase();
      if (rule === 'static:all') return 'local';
      if (rule === 'permit_mynetworks' && this.inMynetworks(addr))
        return 'local';
      if (rule === 'permit_inet_interfaces' && isOwnAddress(addr))
        return 'local';
    }
    return 'remote';
  }

  get delayReject(): boolean {
    return this.#delayReject;
  }

  // The RCPT TO decision: null to accept, else the reply (already logged).
  async checkRcpt(
    state: SmtpdState,
    recipient: string,
    stage = 'RCPT',
  ): Promise<Reply | null> {
    // A message to be discarded is not judged further (Postfix's
    // state->discard): every later recipient is accepted unseen.
    if (state.transaction?.saved?.discard || state.sessionActions?.discard)
      return null;
    const lists = this.#delayReject ? this.#earlyLists(state) : [];
    const subject = { klass: 'Recipient address', value: recipient };
    const rcptLists = this.#relayFirst
      ? ['smtpd_relay_restrictions', 'smtpd_recipient_restrictions']
      : ['smtpd_recipient_restrictions', 'smtpd_relay_restrictions'];
    for (const name of rcptLists) lists.push([name, subject]);
    return this.#decide(state, stage, lists, recipient, () =>
      this.#checkUnlisted(recipient),
    );
  }

  // Without smtpd_delay_reject, each list runs at its own command.
  checkClient(state: SmtpdState): Promise<Reply | null> {
    return this.#decide(state, 'CONNECT', this.#earlyLists(state).slice(0, 1));
  }

  checkHelo(state: SmtpdState, stage: string): Promise<Reply | null> {
    return this.#decide(state, stage, this.#earlyLists(state).slice(1, 2));
  }

  checkSender(state: SmtpdState): Promise<Reply | null> {
    return this.#decide(state, 'MAIL', this.#earlyLists(state).slice(2, 3));
  }

  // Client, HELO and sender lists, in that order (SMTPD_ACCESS_README).
  #earlyLists(state: SmtpdState): Array<[string, Subject]> {
    const sender = state.transaction?.sender ?? '';
    return [
      [
        'smtpd_client_restrictions',
        { klass: 'Client host', value: state.clientText() },
      ],
      ['smtpd_helo_restrictions', { klass: 'Helo command', value: state.helo }],
      ['smtpd_sender_restrictions', { klass: 'Sender address', value: sender }],
    ];
  }

  // Run the lists; a reply ends it and is logged as Postfix's reject
  // line. A table that fails is a configuration error, never a crash.
  async #decide(
    state: SmtpdState,
    stage: string,
    lists: Array<[string, Subject]>,
    recipient?: string,
    last?: () => Promise<Reply | null>,
  ): Promise<Reply | null> {
    let about = recipient ?? '';
    try {
      let found: Reply | null = null;
      for (const [name, subject] of lists) {
        about = subject.value;
        const ctx = { state, recipient: recipient ?? '', subject };
        const verdict = await this.#runList(this.#lists[name] ?? [], ctx);
        if ((found = verdict.reply ?? null)) break;
      }
      about = recipient ?? about;
      found ??= last ? await last() : null;
      if (found) logReject(state, stage, found, recipient);
      return found;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      msg.warn(`${state.queueId || 'NOQUEUE'}: smtpd_check: ${why}`);
      if (!(err instanceof DictError) || err instanceof DictConfigError)
        return reply(451, '4.3.5', 'Server configuration error');
      // Postfix's reject_dict_retry: a table that cannot answer now.
      const found = reply(451, '4.3.0', `<${about}>: Temporary lookup failure`);
      logReject(state, stage, found, recipient);
      return found;
    }
  }

  // Left to right until permit or a reply; the end of a list permits.
  async #runList(words: string[], ctx: CheckContext): Promise<Verdict> {
    for (let i = 0; i < words.length; i++) {
      const name = words[i].toLowerCase();
      const handler = RESTRICTIONS[name];
      if (!handler)
        return configError(`unknown smtpd restriction: "${words[i]}"`);
      const table = name in ACCESS_CHECKS ? words[++i] : undefined;
      if (name in ACCESS_CHECKS && !table)
        return configError(`restriction ${name} requires a table argument`);
      const verdict = await handler(this, ctx, table);
      if (verdict.decision !== DECISION.DUNNO) return verdict;
    }
    return PERMIT;
  }

  // check_*_access: the table's action for the first key it knows.
  async accessCheck(
    kind: AccessKind,
    table: string,
    ctx: CheckContext,
  ): Promise<Verdict> {
    const { keys, subject } = this.#accessSubject(kind, ctx);
    const value = await lookupKeys(this.#accessMaps(table), keys);
    if (value === undefined) return PASS;
    const result = accessAction(value, subject, {
      rejectCode: this.#config.int('access_map_reject_code'),
      deferCode: this.#config.int('access_map_defer_code'),
    });
    if (result.kind === ACCESS.PERMIT) return PERMIT;
    if (result.kind === ACCESS.DUNNO) return PASS;
    if (result.kind === ACCESS.REPLY)
      return { decision: DECISION.REJECT, reply: result.reply };
    if (result.kind === ACCESS.HOLD) return holdMessage(ctx, subject, result);
    const act = ACTIONS[result.kind];
    if (act) return act(ctx, subject, result.text ?? '', `${table} ${value}`);
    const named = result.restriction?.toLowerCase() ?? '';
    if (RESTRICTIONS[named] && !(named in ACCESS_CHECKS))
      return RESTRICTIONS[named](this, ctx);
    return configError(`${table}: unsupported access action: "${value}"`);
  }

  #accessSubject(
    kind: AccessKind,
    ctx: CheckContext,
  ): { keys: ReturnType<typeof heloKeys>; subject: Subject } {
    const state = ctx.state;
    const sender = state.transaction?.sender ?? '';
    const nullKey = this.#config.get('smtpd_null_access_lookup_key');
    switch (kind) {
      case 'client':
        return {
          keys: clientKeys(state.client.name, state.client.addr),
          subject: { klass: 'Client host', value: state.clientText() },
        };
      case 'helo':
        return {
          keys: heloKeys(state.helo),
          subject: { klass: 'Helo command', value: state.helo },
        };
      case 'sender':
        return {
          keys: addressKeys(sender, nullKey),
          subject: { klass: 'Sender address', value: sender },
        };
      case 'recipient':
        return {
          keys: addressKeys(ctx.recipient, nullKey),
          subject: { klass: 'Recipient address', value: ctx.recipient },
        };
    }
  }

  // One Maps per table named in the lists, opened on first use.
  #accessMaps(table: string): Maps {
    let maps = this.#tables.get(table);
    if (!maps) {
      maps = new Maps(table, this.#config);
      this.#tables.set(table, maps);
    }
    return maps;
  }

  // No HELO yet means nothing to judge, as in Postfix.
  heloName(ctx: CheckContext, fqdn: boolean): Verdict {
    const helo = ctx.state.helo;
    if (!helo) return PASS;
    const bad = fqdn ? !fqdnHostname(helo) : !validHostname(helo);
    if (!bad) return PASS;
    const invalid = !validHostname(helo);
    const r = heloReply(this.#config, helo, fqdn && !invalid);
    return { decision: DECISION.REJECT, reply: r };
  }

  nonFqdn(ctx: CheckContext, klass: string): Verdict {
    const address = this.#subjectAddress(ctx, klass);
    if (!nonFqdnAddress(address)) return PASS;
    const r = nonFqdnReply(this.#config, klass, address);
    return { decision: DECISION.REJECT, reply: r };
  }

  // Our own domains are known without asking DNS; <> has no domain.
  async unknownDomain(
    ctx: CheckContext,
    klass: 'Sender address' | 'Recipient address',
  ): Promise<Verdict> {
    const address = this.#subjectAddress(ctx, klass);
    const { domain } = splitAddress(address);
    if (!domain || domain.startsWith('[')) return PASS;
    if (await this.authorizedDestination(`x@${domain}`)) return PASS;
    const status = await this.#domains.find(domain);
    const r = unknownDomainReply(this.#config, klass, address, status);
    return r ? { decision: DECISION.REJECT, reply: r } : PASS;
  }

  #subjectAddress(ctx: CheckContext, klass: string): string {
    if (klass === 'Sender address') return ctx.state.transaction?.sender ?? '';
    return ctx.recipient;
  }

  // smtpd_sender_login_maps: the SASL logins that own a MAIL FROM
  // address. A logged-in client must own its sender; one that is not
  // logged in may not use an owned sender.
  async senderLogin(ctx: CheckContext, which: LoginCheck): Promise<Verdict> {
    const sender = ctx.state.transaction?.sender ?? '';
    if (!sender) return PASS;
    const owners = await this.#senderOwners(sender);
    const login = ctx.state.sasl?.username;
    if (!login) {
      if (!owners || which === LOGIN_CHECK.AUTHENTICATED) return PASS;
      return loginReject(sender, 'not logged in');
    }
    if (which === LOGIN_CHECK.UNAUTHENTICATED) return PASS;
    if (!owners && which === LOGIN_CHECK.KNOWN) return PASS;
    if (owners?.includes(login)) return PASS;
    return loginReject(sender, `not owned by user ${login}`);
  }

  // The full address, then @domain, as Postfix's mail_addr_find.
  // XXX the bare local part of an address in our own domains is not
  // looked up, and recipient_delimiter extensions are not stripped.
  async #senderOwners(sender: string): Promise<string[] | undefined> {
    const maps = this.#accessMaps(this.#config.get('smtpd_sender_login_maps'));
    const { domain } = splitAddress(sender);
    const keys = [sender.toLowerCase(), `@${domain.toLowerCase()}`];
    for (const key of keys) {
      const value = await maps.lookup(key);
      if (value !== undefined) return value.split(/[\s,]+/).filter(Boolean);
    }
    return undefined;
  }

  simpleReject(ctx: CheckContext, codeParam: string): Verdict {
    const code = this.#config.int(codeParam);
    const defer = code < 500;
    const text = defer ? 'Try again later' : 'Access denied';
    const r = reply(
      code,
      defer ? '4.3.2' : '5.7.1',
      `<${ctx.subject.value}>: ${ctx.subject.klass} rejected: ${text}`,
    );
    return { decision: DECISION.REJECT, reply: r };
  }

  async unauthDestination(ctx: CheckContext, minus: number): Promise<Verdict> {
    if (await this.authorizedDestination(ctx.recipient)) return PASS;
    const code = this.#config.int('relay_domains_reject_code') - minus;
    const r = reply(code, '5.7.1', `<${ctx.recipient}>: Relay access denied`);
    return { decision: DECISION.REJECT, reply: r };
  }

  // Local, virtual or relay domains, and no routing in the local part
  // (user@elsewhere@here, user%elsewhere@here, host!user@here).
  async authorizedDestination(address: string): Promise<boolean> {
    const { local, domain } = splitAddress(address);
    if (/[@%!]/.test(local)) return false;
    if (domain === '') return true;
    return (
      (await this.#mydestination.match(domain)) ||
      (await this.#relayDomains.match(domain)) ||
      (await this.#matchAny(this.#virtualDomains, domain))
    );
  }

  async #matchAny(lists: DomainList[], domain: string): Promise<boolean> {
    for (const list of lists) if (await list.match(domain)) return true;
    return false;
  }

  // reject_unlisted_recipient for local domains; an empty
  // local_recipient_maps accepts any local user, as in Postfix.
  async #checkUnlisted(address: string): Promise<Reply | null> {
    if (!this.#config.bool('smtpd_reject_unlisted_recipient')) return null;
    if (this.#overrides & RECEIVE_OVERRIDE.NO_UNKNOWN_RCPT) return null;
    const alias = await virtualAliasVerdict(this.#config, address);
    if (alias === ALIAS_KNOWN) return null;
    if (alias) return reply(alias.code, alias.dsn, alias.text);
    const virtual = await unknownVirtualMailbox(this.#config, address);
    if (virtual) return reply(virtual.code, virtual.dsn, virtual.text);
    if (this.#localRecipients.empty) return null;
    const { local, domain } = splitAddress(address);
    if (domain !== '' && !(await this.#mydestination.match(domain)))
      return null;
    if (await this.#knownLocal(address, local)) return null;
    return reply(
      this.#config.int('unknown_local_recipient_reject_code'),
      '5.1.1',
      `<${address}>: Recipient address rejected: User unknown in local recipient table`,
    );
  }

  async #knownLocal(address: string, local: string): Promise<boolean> {
    const delim = param(this.#config, 'recipient_delimiter');
    const base = baseLocalPart(local, delim).toLowerCase();
    for (const key of [address.toLowerCase(), local.toLowerCase(), base]) {
      try {
        if ((await this.#localRecipients.lookup(key)) !== undefined)
          return true;
      } catch (err) {
        if (err instanceof DictError) throw err;
        throw new Error(String(err));
      }
    }
    return false;
  }
}

function baseLocalPart(local: string, delimiters: string): string {
  if (!delimiters) return local;
  for (let i = 0; i < local.length; i++)
    if (delimiters.includes(local[i])) return local.slice(0, i);
  return local;
}

function readLists(config: Config): Record<string, string[]> {
  const lists: Record<string, string[]> = {};
  for (const name of [
    'smtpd_client_restrictions',
    'smtpd_helo_restrictions',
    'smtpd_sender_restrictions',
    'smtpd_relay_restrictions',
    'smtpd_recipient_restrictions',
  ])
    lists[name] = config.list(name);
  return lists;
}

// mynetworks: "a.b.c.d/n", "[v6]/n", plain addresses. XXX "type:table"
// and "/file" entries are skipped with a warning; cidr tables are
// the usual reason for them and the tables part has no cidr type yet.
export function buildNetworks(items: string[]): net.BlockList {
  const list = new net.BlockList();
  for (const item of items) {
    const m = /^\[?([0-9a-fA-F:.]+)\]?(?:\/(\d+))?$/.exec(item.trim());
    const addr = m ? m[1] : '';
    const family = net.isIPv4(addr) ? 'ipv4' : net.isIPv6(addr) ? 'ipv6' : '';
    if (!m || !family) {
      msg.warn(`mynetworks: unsupported entry: "${item}"`);
      continue;
    }
    const bits = m[2] === undefined ? (family === 'ipv4' ? 32 : 128) : +m[2];
    list.addSubnet(addr, bits, family);
  }
  return list;
}

// A session asks up to three times about one client address (anvil's
// exemption, permit_mynetworks, smtpd_forbid_bare_newline_exclusions),
// and BlockList.check makes an object each time; the lists are built
// once per process, so answers are kept, a bounded number per list.
const NETWORK_ANSWERS_MAX = 1000;
const networkAnswers = new WeakMap<net.BlockList, Map<string, boolean>>();

export function matchNetworks(list: net.BlockList, addr: string): boolean {
  let answers = networkAnswers.get(list);
  if (!answers) networkAnswers.set(list, (answers = new Map()));
  let found = answers.get(addr);
  if (found === undefined) {
    found = checkNetworks(list, addr);
    if (answers.size >= NETWORK_ANSWERS_MAX) answers.clear();
    answers.set(addr, found);
  }
  return found;
}

function checkNetworks(list: net.BlockList, addr: string): boolean {
  if (net.isIPv4(addr)) return list.check(addr, 'ipv4');
  if (net.isIPv6(addr)) return list.check(addr, 'ipv6');
  return false;
}

// Postfix's log_whatsup: "NOQUEUE: reject: RCPT from name[addr]: <reply>;
// from=<s> to=<r> proto=ESMTP helo=<h>".
export function logReject(
  state: SmtpdState,
  stage: string,
  r: Reply,
  recipient?: string,
): void {
  logAction(state, 'reject', stage, replyText(r), recipient);
}

// "QID: reject|hold: RCPT from name[addr]: text; from=<> to=<> proto=
// helo=<>", Postfix's log_whatsup line.
export function logAction(
  state: SmtpdState,
  action: string,
  stage: string,
  text: string,
  recipient?: string,
): void {
  const id = state.queueId || 'NOQUEUE';
  const fields: string[] = [];
  if (state.transaction) fields.push(`from=<${state.transaction.sender}>`);
  if (recipient !== undefined) fields.push(`to=<${recipient}>`);
  fields.push(`proto=${state.protocol}`);
  if (state.helo) fields.push(`helo=<${state.helo}>`);
  msg.info(
    `${id}: ${action}: ${stage} from ${state.clientText()}: ` +
      `${text}; ${fields.join(' ')}`,
  );
}

// An address of this host's interfaces (IPv4-mapped IPv6 folded). The
// list is asked for at most once a minute: asking costs more than a
// whole SMTP command.
const OWN = { at: 0, addresses: new Set<string>() };

export function isOwnAddress(addr: string): boolean {
  if (Date.now() - OWN.at > 60_000) {
    OWN.addresses = new Set(
      Object.values(os.networkInterfaces())
        .flatMap((list) => list ?? [])
        .map((iface) => iface.address.toLowerCase()),
    );
    OWN.at = Date.now();
  }
  return OWN.addresses.has(addr.replace(/^::ffff:/i, '').toLowerCase());
}

// HOLD: the message goes to hold/ (cleanup's HOLD flag) and the list goes
// on, as in Postfix. Logged as Postfix's smtpd logs it.
function holdMessage(
  ctx: CheckContext,
  subject: Subject,
  result: { text?: string },
): Verdict {
  const state = ctx.state;
  if (state.transaction) state.transaction.hold = true;
  else state.holdAll = true;
  const why =
    result.text || `<${subject.value}>: ${subject.klass} triggers HOLD action`;
  logAction(state, 'hold', state.where, why, ctx.recipient || undefined);
  return PASS;
}

// The actions that smtpd hands on to cleanup are collected for the
// transaction, or for the session when no MAIL was given yet.
function savedActions(state: SmtpdState): SavedActions {
  if (state.transaction) return (state.transaction.saved ??= emptyActions());
  return (state.sessionActions ??= emptyActions());
}

type Action = (
  ctx: CheckContext,
  subject: Subject,
  text: string,
  entry: string, // "table value", for warnings about a bad entry
) => Verdict;

// "<x>: Recipient address triggers DISCARD action", or the table's text.
function whatsup(subject: Subject, text: string, fallback: string): string {
  return `<${subject.value}>: ${subject.klass} ${text || fallback}`;
}

function logWhatsup(ctx: CheckContext, action: string, text: string): void {
  logAction(ctx.state, action, ctx.state.where, text, rcptOf(ctx));
}

function rcptOf(ctx: CheckContext): string | undefined {
  return ctx.recipient || undefined;
}

function badEntry(entry: string, need: string): Verdict {
  msg.warn(`access table ${entry}: ${need}`);
  return PASS;
}

// VRFY asks about an address; there is no message to act on.
function noMessage(ctx: CheckContext): boolean {
  return ctx.state.where.toUpperCase() === 'VRFY';
}

// DISCARD: accept with 250 and throw the message away at its end
// (CLEANUP_FLAG_DISCARD); it permits, as OK does.
function discardAction(ctx: CheckContext, subject: Subject, text: string) {
  if (noMessage(ctx)) return PASS;
  logWhatsup(ctx, 'discard', whatsup(subject, text, 'triggers DISCARD action'));
  savedActions(ctx.state).discard = true;
  return PERMIT;
}

// FILTER goes to cleanup as the queue file's content_filter record,
// after content_filter's own, so it wins; qmgr routes the message by it.
function filterAction(
  ctx: CheckContext,
  subject: Subject,
  text: string,
  entry: string,
): Verdict {
  if (noMessage(ctx)) return PASS;
  if (!text.includes(':'))
    return badEntry(entry, 'FILTER requires transport:destination');
  logWhatsup(ctx, 'filter', whatsup(subject, `triggers FILTER ${text}`, ''));
  savedActions(ctx.state).filter = text;
  return PASS;
}

// REDIRECT and BCC name one user@domain; the last REDIRECT wins.
function addressAction(name: 'REDIRECT' | 'BCC'): Action {
  return (ctx, subject, text, entry) => {
    if (noMessage(ctx)) return PASS;
    if (!text.includes('@'))
      return badEntry(entry, `${name} requires user@domain target`);
    const line = whatsup(subject, `triggers ${name} ${text}`, '');
    logWhatsup(ctx, name.toLowerCase(), line);
    const saved = savedActions(ctx.state);
    if (name === 'REDIRECT') saved.redirect = text;
    else saved.bcc.push(text);
    return PASS;
  };
}

// RFC 5322 section 2.2: a field name, a colon, then the value.
const HEADER_LINE = /^[\x21-\x39\x3b-\x7e]+:/;

// PREPEND is not logged, as in Postfix; a header needs a message.
function prependAction(
  ctx: CheckContext,
  _subject: Subject,
  text: string,
  entry: string,
): Verdict {
  if (noMessage(ctx)) return PASS;
  if (!HEADER_LINE.test(text))
    return badEntry(entry, 'PREPEND requires header: text');
  savedActions(ctx.state).prepend.push(text);
  return PASS;
}

// WARN and INFO log the table's text as it stands and go on.
function logOnly(action: string): Action {
  return (ctx, _subject, text) => {
    logWhatsup(ctx, action, text);
    return PASS;
  };
}

const ACTIONS: Partial<Record<string, Action>> = {
  [ACCESS.DISCARD]: discardAction,
  [ACCESS.FILTER]: filterAction,
  [ACCESS.REDIRECT]: addressAction('REDIRECT'),
  [ACCESS.BCC]: addressAction('BCC'),
  [ACCESS.PREPEND]: prependAction,
  [ACCESS.WARN]: logOnly('warn'),
  [ACCESS.INFO]: logOnly('info'),
};
