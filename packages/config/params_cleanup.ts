// main.cf parameters read by the cleanup daemon, joined into the catalog
// by params.ts: content limits and header policy. Defaults are Debian's
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
];
