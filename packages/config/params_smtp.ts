// main.cf parameters read by the smtp and lmtp delivery agents
// (services/smtp), with Postfix's names and defaults; params.ts joins them
// into the catalog. smtp_dns_resolver_address and lmtp_dns_resolver_address
// are ours: Postfix has no way to point its resolver at a test server.

import type { ParamDef } from './param_def';

function time(name: string, value: string, doc: string): ParamDef {
  return { name, type: 'time', default: value, doc };
}

// Each smtp_*_timeout has an lmtp_* twin with the same default, as in
// Postfix, except the connect timeout (lmtp_connect_timeout = 0s).
const TIMEOUTS: Array<[string, string, string]> = [
  ['mail', '300s', 'the MAIL FROM reply'],
  ['rcpt', '300s', 'each RCPT TO reply'],
  ['data_init', '120s', 'the DATA reply'],
  ['data_xfer', '180s', 'sending each piece of message content'],
  ['data_done', '600s', 'the reply to the end of the content'],
  ['quit', '300s', 'the QUIT reply'],
  ['rset', '20s', 'the RSET reply that checks a cached connection'],
];

function timeouts(prefix: 'smtp' | 'lmtp'): ParamDef[] {
  return TIMEOUTS.map(([step, value, what]) =>
    time(`${prefix}_${step}_timeout`, value, `time limit for ${what}`),
  );
}

function cacheParams(prefix: 'smtp' | 'lmtp'): ParamDef[] {
  return [
    {
      name: `${prefix}_connection_cache_on_demand`,
      type: 'bool',
      default: 'yes',
      doc: 'keep a connection open for the next delivery to its nexthop',
    },
    time(
      `${prefix}_connection_cache_time_limit`,
      '2s',
      'how long an unused connection is kept open',
    ),
    time(
      `${prefix}_connection_reuse_time_limit`,
      '300s',
      'how long a connection may be used for new deliveries',
    ),
    {
      name: `${prefix}_connection_reuse_count_limit`,
      type: 'int',
      default: '0',
      min: 0,
      doc: 'most deliveries over one connection; 0 means no limit',
    },
    {
      name: `${prefix}_connection_cache_destinations`,
      type: 'list',
      default: '',
      doc: 'destinations whose connections are always cached',
    },
  ];
}

// The scache(8) service's own parameters.
const SCACHE_PARAMS: ParamDef[] = [
  time(
    'connection_cache_ttl_limit',
    '2s',
    'longest time to live that scache grants a cached connection',
  ),
  time(
    'connection_cache_status_update_time',
    '600s',
    'how often scache logs its statistics',
  ),
  time(
    'connection_cache_protocol_timeout',
    '5s',
    'time limit for a connection cache request',
  ),
];

// The lmtp client's TLS, the twins of smtp_tls_* (in params_smtpd.ts)
// with the same defaults, as in Postfix.
const LMTP_TLS_PARAMS: ParamDef[] = [
  {
    name: 'lmtp_tls_security_level',
    type: 'string',
    default: '',
    doc: 'LMTP client TLS: empty or none, may (opportunistic), encrypt',
  },
  {
    name: 'lmtp_use_tls',
    type: 'bool',
    default: 'no',
    doc: 'obsolete: may, when lmtp_tls_security_level is empty',
  },
  {
    name: 'lmtp_enforce_tls',
    type: 'bool',
    default: 'no',
    doc: 'obsolete: encrypt, when lmtp_tls_security_level is empty',
  },
  {
    name: 'lmtp_tls_CAfile',
    type: 'string',
    default: '',
    doc: 'PEM file of CA certificates that make an LMTP server "Trusted"',
  },
  {
    name: 'lmtp_tls_protocols',
    type: 'string',
    default: '>=TLSv1',
    doc: 'TLS protocols the lmtp client uses at opportunistic level',
  },
  {
    name: 'lmtp_tls_mandatory_protocols',
    type: 'string',
    default: '>=TLSv1',
    doc: 'TLS protocols the lmtp client uses when TLS is mandatory',
  },
  {
    name: 'lmtp_tls_ciphers',
    type: 'string',
    default: 'medium',
    doc: 'lmtp cipher grade at opportunistic level: high, medium, low, null',
  },
  {
    name: 'lmtp_tls_mandatory_ciphers',
    type: 'string',
    default: 'medium',
    doc: 'lmtp cipher grade when TLS is mandatory: high, medium, low, null',
  },
  {
    name: 'lmtp_tls_loglevel',
    type: 'int',
    default: '0',
    min: 0,
    max: 4,
    doc: 'lmtp TLS logging: 0 none, 1 one summary line per handshake',
  },
];

export const PARAMS: ParamDef[] = [
  {
    name: 'smtp_helo_name',
    type: 'string',
    default: '$myhostname',
    doc: 'hostname the smtp client sends in EHLO or HELO',
  },
  {
    name: 'lmtp_lhlo_name',
    type: 'string',
    default: '$myhostname',
    doc: 'hostname the lmtp client sends in LHLO',
  },
  {
    name: 'smtp_fallback_relay',
    type: 'list',
    default: '$fallback_relay',
    doc: 'hosts to try when the nexthop destination cannot be reached',
  },
  {
    name: 'fallback_relay',
    type: 'list',
    default: '',
    doc: 'older name of smtp_fallback_relay',
  },
  {
    name: 'disable_mime_output_conversion',
    type: 'bool',
    default: 'no',
    doc: 'send 8-bit mail as it is to a peer without 8BITMIME',
  },
  {
    name: 'lmtp_tcp_port',
    type: 'string',
    default: '24',
    doc: 'default TCP port of the lmtp client',
  },
  {
    name: 'smtp_dns_resolver_address',
    type: 'string',
    default: '',
    doc: 'ours: DNS server addr[:port] for smtp lookups; empty = system',
  },
  {
    name: 'lmtp_dns_resolver_address',
    type: 'string',
    default: '$smtp_dns_resolver_address',
    doc: 'ours: DNS server for lmtp lookups; empty = the system resolver',
  },
  ...cacheParams('smtp'),
  ...cacheParams('lmtp'),
  ...SCACHE_PARAMS,
  ...LMTP_TLS_PARAMS,
  time('smtp_connect_timeout', '30s', 'time limit for a TCP connection'),
  time('lmtp_connect_timeout', '0s', 'time limit for a connection; 0 = none'),
  time('smtp_helo_timeout', '300s', 'time limit for greeting and EHLO'),
  time('lmtp_lhlo_timeout', '300s', 'time limit for greeting and LHLO'),
  ...timeouts('smtp'),
  ...timeouts('lmtp'),
];
