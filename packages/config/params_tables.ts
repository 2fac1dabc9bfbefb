// main.cf parameters read by the tables part, joined into the catalog by
// params.ts: address rewriting and resolving (packages/address), the
// lookup tables (packages/tables), postmap, postalias and newaliases.
// Defaults are Postfix 3.7's, with the compatibility_level forms.

import { ParamDef } from './param_def';

export const PARAMS: ParamDef[] = [
  {
    name: 'transport_maps',
    type: 'list',
    default: '',
    doc: 'Tables mapping addresses and domains to transport:nexthop',
  },
  {
    name: 'relayhost',
    type: 'string',
    default: '',
    doc: 'The next-hop destination of non-local mail, [host]:port form',
  },
  {
    name: 'relay_domains',
    type: 'list',
    default: '${{$compatibility_level} <level {2} ? {$mydestination} : {}}',
    doc: 'Domains this system relays mail to',
  },
  {
    name: 'relay_transport',
    type: 'string',
    default: 'relay',
    doc: 'The default transport:nexthop for relay_domains',
  },
  {
    name: 'default_transport',
    type: 'string',
    default: 'smtp',
    doc: 'The default transport:nexthop for non-local, non-relay mail',
  },
  {
    name: 'local_transport',
    type: 'string',
    default: 'local:$myhostname',
    doc: 'The default transport:nexthop for mydestination domains',
  },
  {
    name: 'virtual_transport',
    type: 'string',
    default: 'virtual',
    doc: 'The default transport:nexthop for virtual_mailbox_domains',
  },
  {
    name: 'virtual_alias_maps',
    type: 'list',
    default: '$virtual_maps',
    doc: 'Tables mapping virtual addresses to other addresses',
  },
  {
    name: 'virtual_maps',
    type: 'list',
    default: '',
    doc: 'Obsolete name of virtual_alias_maps',
  },
  {
    name: 'virtual_alias_domains',
    type: 'list',
    default: '$virtual_alias_maps',
    doc: 'Domains whose every address is a virtual alias',
  },
  {
    name: 'virtual_mailbox_maps',
    type: 'list',
    default: '',
    doc: 'Tables of the mailboxes of virtual_mailbox_domains',
  },
  {
    name: 'virtual_mailbox_domains',
    type: 'list',
    default: '$virtual_mailbox_maps',
    doc: 'Domains delivered by the virtual_transport',
  },
  {
    name: 'proxy_interfaces',
    type: 'list',
    default: '',
    doc: 'Addresses a proxy or NAT forwards to us, for [addr] literals',
  },
  {
    name: 'append_at_myorigin',
    type: 'bool',
    default: 'yes',
    doc: 'Append @$myorigin to addresses without a domain',
  },
  {
    name: 'append_dot_mydomain',
    type: 'bool',
    default: '${{$compatibility_level} <level {1} ? {yes} : {no}}',
    doc: 'Append .$mydomain to domains without a dot',
  },
  {
    name: 'swap_bangpath',
    type: 'bool',
    default: 'yes',
    doc: 'Rewrite site!user to user@site',
  },
  {
    name: 'allow_percent_hack',
    type: 'bool',
    default: 'yes',
    doc: 'Rewrite user%domain to user@domain',
  },
  {
    name: 'recipient_delimiter',
    type: 'string',
    default: '',
    doc: 'Characters that separate a user name from an address extension',
  },
  {
    name: 'remote_header_rewrite_domain',
    type: 'string',
    default: '',
    doc: 'The domain appended to incomplete addresses from remote clients',
  },
  {
    name: 'parent_domain_matches_subdomains',
    type: 'list',
    default:
      'debug_peer_list,fast_flush_domains,mynetworks,' +
      'permit_mx_backup_networks,qmqpd_authorized_clients,relay_domains,' +
      'smtpd_access_maps',
    doc: 'Lists where "example.com" also matches its subdomains',
  },
  {
    name: 'default_database_type',
    type: 'string',
    default: 'lmdb',
    doc: 'The table type postmap and postalias build when none is given',
  },
  {
    name: 'default_cache_db_type',
    type: 'string',
    default: 'lmdb',
    doc: 'The table type of caches, and what btree: stands for here',
  },
  {
    name: 'alias_database',
    type: 'list',
    default: 'hash:/etc/aliases',
    doc: 'The alias tables that newaliases and postalias rebuild',
  },
];
