// main.cf parameters read by the cleanup daemon, joined into the catalog
// by params.ts: content limits, header policy, address mapping and
// content checks. Defaults are Debian's
// Postfix 3.7 `postconf -d`; the queue layout (hash_queue_*) is global.

import { ParamDef } from './param_def';

export const PARAMS: ParamDef[] = [
  {
    name: 'message_size_limit',
    type: 'size',
    default: '10240000',
    min: 0,
    doc: 'largest queue file (envelope and content) in bytes; 0: no limit',
  },
  {
    name: 'header_size_limit',
    type: 'size',
    default: '102400',
    min: 1,
    doc: 'largest message header in bytes; the excess is discarded',
  },
  {
    name: 'line_length_limit',
    type: 'int',
    default: '2048',
    min: 1,
    doc: 'longer content lines are stored as pieces of this length',
  },
  {
    name: 'hopcount_limit',
    type: 'int',
    default: '50',
    min: 1,
    doc: 'most Received: and Delivered-To: headers a message may have',
  },
  {
    name: 'message_drop_headers',
    type: 'list',
    default: 'bcc, content-length, resent-bcc, return-path',
    doc: 'headers cleanup removes from every message',
  },
  {
    name: 'local_header_rewrite_clients',
    type: 'list',
    default: 'permit_inet_interfaces',
    doc: 'Clients whose mail gets local header rewriting and missing headers',
  },
  {
    name: 'always_add_missing_headers',
    type: 'bool',
    default: 'no',
    doc: 'add From:, Date:, Message-ID: also for remote submissions',
  },
  {
    name: 'delay_warning_time',
    type: 'time',
    unit: 'h',
    default: '0h',
    min: 0,
    doc: 'after this time a message still queued gets a delay notice; 0: none',
  },
  {
    name: 'canonical_maps',
    type: 'list',
    default: '',
    doc: 'address mapping tables for sender and recipient addresses',
  },
  {
    name: 'sender_canonical_maps',
    type: 'list',
    default: '',
    doc: 'address mapping tables for sender addresses',
  },
  {
    name: 'recipient_canonical_maps',
    type: 'list',
    default: '',
    doc: 'address mapping tables for recipient addresses',
  },
  {
    name: 'canonical_classes',
    type: 'list',
    default:
      'envelope_sender, envelope_recipient, header_sender, header_recipient',
    doc: 'addresses that canonical_maps applies to',
  },
  {
    name: 'sender_canonical_classes',
    type: 'list',
    default: 'envelope_sender, header_sender',
    doc: 'addresses that sender_canonical_maps applies to',
  },
  {
    name: 'recipient_canonical_classes',
    type: 'list',
    default: 'envelope_recipient, header_recipient',
    doc: 'addresses that recipient_canonical_maps applies to',
  },
  {
    name: 'virtual_alias_expansion_limit',
    type: 'int',
    default: '1000',
    min: 1,
    doc: 'most addresses one virtual alias expansion may give',
  },
  {
    name: 'virtual_alias_recursion_limit',
    type: 'int',
    default: '1000',
    min: 1,
    doc: 'deepest nesting of virtual alias expansion',
  },
  {
    name: 'header_checks',
    type: 'list',
    default: '',
    doc: 'tables of patterns for logical message headers',
  },
  {
    name: 'mime_header_checks',
    type: 'list',
    default: '$header_checks',
    doc: 'tables of patterns for MIME-Version: and Content-*: headers',
  },
  {
    name: 'nested_header_checks',
    type: 'list',
    default: '$header_checks',
    doc: 'tables of patterns for headers of attached messages',
  },
  {
    name: 'body_checks',
    type: 'list',
    default: '',
    doc: 'tables of patterns for message body lines',
  },
  {
    name: 'body_checks_size_limit',
    type: 'int',
    default: '51200',
    min: 1,
    doc: 'how much of the body body_checks looks at, in bytes',
  },
  {
    name: 'unknown_virtual_alias_reject_code',
    type: 'int',
    default: '550',
    min: 400,
    max: 599,
    doc: 'smtpd reply code for an unknown user in a virtual alias domain',
  },
];
