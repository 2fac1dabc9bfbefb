// main.cf parameters read by the qmgr part, joined into the catalog by
// params.ts. The qmgr engineer owns this file and adds every parameter the
// part reads: { name, type, default (Postfix's text), min?, max?, doc }.
// Per-transport names (<transport>_destination_concurrency_limit, ...)
// are read raw by qmgr, as Postfix does; only local's are listed here.

import { ParamDef } from './param_def';

export const PARAMS: ParamDef[] = [
  {
    name: 'queue_run_delay',
    type: 'time',
    default: '300s',
    min: 1,
    doc: 'How often qmgr scans the deferred queue',
  },
  {
    name: 'minimal_backoff_time',
    type: 'time',
    default: '300s',
    min: 1,
    doc: 'Least time a deferred message waits before the next try',
  },
  {
    name: 'maximal_backoff_time',
    type: 'time',
    default: '4000s',
    min: 1,
    doc: 'Most time a deferred message waits before the next try',
  },
  {
    name: 'maximal_queue_lifetime',
    type: 'time',
    default: '5d',
    unit: 'd',
    min: 0,
    doc: 'Age at which a deferred message is returned to its sender',
  },
  {
    name: 'bounce_queue_lifetime',
    type: 'time',
    default: '5d',
    unit: 'd',
    min: 0,
    doc: 'As maximal_queue_lifetime, for mail from the null sender',
  },
  {
    name: 'qmgr_message_active_limit',
    type: 'int',
    default: '20000',
    min: 1,
    doc: 'Most messages in the active queue at once',
  },
  {
    name: 'initial_destination_concurrency',
    type: 'int',
    default: '5',
    min: 1,
    doc: 'Parallel deliveries to a destination before feedback',
  },
  {
    name: 'default_destination_concurrency_limit',
    type: 'int',
    default: '20',
    min: 0,
    doc: 'Most parallel deliveries to one destination',
  },
  {
    name: 'default_destination_concurrency_failed_cohort_limit',
    type: 'int',
    default: '1',
    min: 0,
    doc: 'Failed pseudo-cohorts after which a destination is dead',
  },
  {
    name: 'default_destination_recipient_limit',
    type: 'int',
    default: '50',
    min: 0,
    doc: 'Most recipients in one delivery request',
  },
  {
    name: 'local_destination_concurrency_limit',
    type: 'int',
    default: '2',
    min: 0,
    doc: 'Most parallel local deliveries to one recipient',
  },
  {
    name: 'local_destination_recipient_limit',
    type: 'int',
    default: '1',
    min: 0,
    doc: 'Most recipients in one local delivery request',
  },
  {
    name: 'transport_retry_time',
    type: 'time',
    default: '60s',
    min: 1,
    doc: 'Time between tries of a transport that was unavailable',
  },
  {
    name: 'double_bounce_sender',
    type: 'string',
    default: 'double-bounce',
    doc: 'Sender of bounces of bounces; mail to it is discarded',
  },
  {
    name: 'backwards_bounce_logfile_compatibility',
    type: 'bool',
    default: 'yes',
    doc: 'Write the old "<recipient>: reason" line in status logs too',
  },
  {
    name: 'bounce_size_limit',
    type: 'int',
    default: '50000',
    min: 1,
    doc: 'Largest original message returned whole in a bounce',
  },
  {
    name: '2bounce_notice_recipient',
    type: 'string',
    default: 'postmaster',
    doc: 'Who gets notices about undeliverable bounces',
  },
  {
    name: 'defer_transports',
    type: 'list',
    default: '',
    doc: 'Transports whose mail qmgr defers until the queue is flushed',
  },
  {
    name: 'fast_flush_domains',
    type: 'list',
    default: '$relay_domains',
    doc: 'Destinations whose deferred mail the flush service keeps logs of',
  },
  {
    name: 'fast_flush_refresh_time',
    type: 'time',
    default: '12h',
    unit: 'h',
    min: 1,
    doc: 'Age at which flush refreshes an unused per-destination log',
  },
  {
    name: 'fast_flush_purge_time',
    type: 'time',
    default: '7d',
    unit: 'd',
    min: 1,
    doc: 'Age at which flush removes an empty per-destination log',
  },
];
