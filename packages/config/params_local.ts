// main.cf parameters read by the local delivery agent (services/local),
// and by virtual(8) (services/virtual) after local's, with Postfix's
// names and defaults, joined into the catalog by params.ts.
// local_delivery_without_passwd is ours: it lets an unprivileged
// (embedded) instance deliver for names with no passwd entry; its
// default keeps Postfix's behaviour.

import type { ParamDef } from './param_def';

export const PARAMS: ParamDef[] = [
  {
    name: 'alias_maps',
    type: 'list',
    // A build without NIS, as Postfix's default is build dependent.
    default: 'hash:/etc/aliases',
    doc: 'alias databases used by local delivery, searched in order',
  },
  {
    name: 'home_mailbox',
    type: 'string',
    default: '',
    doc: 'mailbox relative to the home directory; a trailing / is Maildir',
  },
  {
    name: 'mail_spool_directory',
    type: 'string',
    default: '/var/mail',
    doc: 'directory of UNIX-style mailboxes; a trailing / means Maildir',
  },
  {
    name: 'mailbox_size_limit',
    type: 'size',
    default: '51200000',
    doc: 'largest mailbox or file that local delivery writes; 0 is none',
  },
  {
    name: 'mailbox_delivery_lock',
    type: 'list',
    default: 'fcntl, dotlock',
    doc: 'how to lock a UNIX-style mailbox: flock, fcntl, dotlock',
  },
  {
    name: 'forward_path',
    type: 'list',
    default: '$home/.forward${recipient_delimiter}${extension}, $home/.forward',
    doc: '.forward files to try in order; the first found is used',
  },
  {
    name: 'allow_mail_to_commands',
    type: 'list',
    default: 'alias, forward',
    doc: 'where |command destinations are allowed: alias, forward, include',
  },
  {
    name: 'allow_mail_to_files',
    type: 'list',
    default: 'alias, forward',
    doc: 'where /file/name destinations are allowed: alias, forward, include',
  },
  {
    name: 'default_privs',
    type: 'string',
    default: 'nobody',
    doc: 'user whose rights deliver to files and commands with no owner',
  },
  {
    name: 'prepend_delivered_header',
    type: 'list',
    default: 'command, file, forward',
    doc: 'deliveries that get a Delivered-To: header besides the mailbox',
  },
  {
    name: 'owner_request_special',
    type: 'bool',
    default: 'yes',
    doc: 'an owner-name alias becomes the sender of mail for name',
  },
  {
    name: 'expand_owner_alias',
    type: 'bool',
    default: 'no',
    doc: 'use the expansion of owner-name, not owner-name, as the sender',
  },
  {
    name: 'propagate_unmatched_extensions',
    type: 'list',
    default: 'canonical, virtual',
    doc: 'lookups whose results keep an unmatched extension (alias, forward)',
  },
  {
    name: 'luser_relay',
    type: 'string',
    default: '',
    doc: 'destination of mail for unknown local users ($user expanded)',
  },
  {
    name: 'mailbox_command',
    type: 'string',
    default: '',
    doc: 'command that delivers to the mailbox instead of the agent',
  },
  {
    name: 'command_time_limit',
    type: 'time',
    default: '1000s',
    doc: 'longest time a |command delivery may run before it is killed',
  },
  {
    name: 'deliver_lock_attempts',
    type: 'int',
    default: '20',
    min: 1,
    doc: 'attempts to lock a mailbox before delivery is deferred',
  },
  {
    name: 'deliver_lock_delay',
    type: 'time',
    default: '1s',
    doc: 'time between attempts to lock a mailbox',
  },
  {
    name: 'stale_lock_time',
    type: 'time',
    default: '500s',
    doc: 'age after which a mailbox dot-lock file is removed',
  },
  {
    name: 'local_command_shell',
    type: 'string',
    default: '',
    doc: 'shell for |command and mailbox_command; empty is /bin/sh -c',
  },
  {
    name: 'duplicate_filter_limit',
    type: 'int',
    default: '1000',
    min: 0,
    doc: 'destinations remembered per delivery to drop duplicates',
  },
  {
    name: 'enable_original_recipient',
    type: 'bool',
    default: 'yes',
    doc: 'add X-Original-To: and log orig_to= from the original recipient',
  },
  {
    name: 'biff',
    type: 'bool',
    default: 'yes',
    doc: 'notify comsat of new mail (accepted, but no comsat is sent)',
  },
  // Ours, for an unprivileged (embedded) instance. no: Postfix's rule, a
  // local name needs a passwd entry or it is an unknown user (5.1.1,
  // after luser_relay). yes: a name with no passwd entry, or when the
  // agent is not root one whose uid is not the agent's, skips .forward
  // and home_mailbox and goes to mail_spool_directory/<name> with the
  // agent's own rights; a trailing / on mail_spool_directory makes that
  // a Maildir. Names unsafe as file names are bounced (5.1.3).
  {
    name: 'local_delivery_without_passwd',
    type: 'bool',
    default: 'no',
    doc:
      'ours: when yes, a local name with no passwd entry (or, when not ' +
      'root, another user) is delivered as the user running the agent, ' +
      'to mail_spool_directory/name (a trailing / there is Maildir)',
  },

  // virtual(8), services/virtual.
  {
    name: 'virtual_mailbox_base',
    type: 'string',
    default: '',
    doc: 'Prefix of the virtual_mailbox_maps paths',
  },
  {
    name: 'virtual_uid_maps',
    type: 'list',
    default: '',
    doc: 'Tables of the uid that owns each virtual mailbox (static:N)',
  },
  {
    name: 'virtual_gid_maps',
    type: 'list',
    default: '',
    doc: 'Tables of the gid that owns each virtual mailbox (static:N)',
  },
  {
    name: 'virtual_minimum_uid',
    type: 'int',
    default: '100',
    min: 1,
    doc: 'The lowest uid virtual(8) delivers with',
  },
  {
    name: 'virtual_mailbox_limit',
    type: 'size',
    default: '51200000',
    doc: 'Largest virtual mailbox or Maildir message, in bytes; 0 none',
  },
  {
    name: 'virtual_mailbox_lock',
    type: 'list',
    default: 'fcntl, dotlock',
    doc: 'How virtual(8) locks an mbox: fcntl, flock, dotlock',
  },
  {
    name: 'unknown_virtual_mailbox_reject_code',
    type: 'int',
    default: '550',
    doc: 'smtpd reply code for an unknown user of a virtual mailbox domain',
  },
];
