// main.cf parameters of the whole system: identity, paths, processes,
// logging, queue hashing and master. Postfix's defaults (postconf -d of
// 3.7) except where this installation decides (paths of dist/, version).
// Joined with the other areas by params.ts.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DefaultContext, ParamDef } from './param_def';

// This file runs from dist/packages/config/ of the installation.
const INSTALL_ROOT = path.resolve(__dirname, '..', '..', '..');

function packageVersion(): string {
  try {
    const file = path.join(INSTALL_ROOT, 'package.json');
    return JSON.parse(fs.readFileSync(file, 'utf8')).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

// Postfix never asks DNS: the kernel's name, made fully qualified.
function defaultMyhostname(ctx: DefaultContext): string {
  const name = os.hostname();
  if (name.includes('.')) return name;
  return ctx.raw('mydomain') !== undefined
    ? `${name}.$mydomain`
    : `${name}.localdomain`;
}

function defaultMydomain(ctx: DefaultContext): string {
  const host = ctx.get('myhostname');
  const dot = host.indexOf('.');
  return dot < 0 ? 'localdomain' : host.slice(dot + 1);
}

function interfaceAddresses(): os.NetworkInterfaceInfo[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((info): info is os.NetworkInterfaceInfo => !!info)
    .filter((info) => !info.internal && !info.address.startsWith('fe80:'));
}

function formatNetwork(address: string, bits: number, v6: boolean): string {
  return v6 ? `[${address}]/${bits}` : `${address}/${bits}`;
}

function ipv4Network(address: string, bits: number): string {
  const parts = address.split('.').map(Number);
  const value = parts.reduce((acc, part) => acc * 256 + part, 0);
  const size = 2 ** (32 - bits);
  const base = Math.floor(value / size) * size;
  const octets = [24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256);
  return `${octets.join('.')}/${bits}`;
}

// XXX subnet style networks IPv6 interfaces as their address only: the
// prefix arithmetic for IPv6 is not written.
function ownNetwork(info: os.NetworkInterfaceInfo, style: string): string {
  const v6 = info.family === 'IPv6';
  if (style === 'host' || v6)
    return formatNetwork(info.address, v6 ? 128 : 32, v6);
  if (style === 'class') {
    const first = Number(info.address.split('.')[0]);
    return ipv4Network(info.address, first < 128 ? 8 : first < 192 ? 16 : 24);
  }
  const bits = Number(info.cidr?.split('/')[1] ?? 32);
  return ipv4Network(info.address, bits);
}

// What Postfix computes from mynetworks_style and the interfaces.
function defaultMynetworks(ctx: DefaultContext): string {
  const style = ctx.get('mynetworks_style');
  const nets = ['127.0.0.0/8', '[::ffff:127.0.0.0]/104', '[::1]/128'];
  for (const info of interfaceAddresses()) {
    const net = ownNetwork(info, style);
    if (!nets.includes(net)) nets.push(net);
  }
  return nets.join(' ');
}

export const PARAMS: ParamDef[] = [
  {
    name: 'content_filter',
    type: 'string',
    default: '',
    doc:
      'transport:destination that gets all mail smtpd and pickup receive, ' +
      "for inspection, instead of the recipients' transports",
  },
  // Identity and routing.
  {
    name: 'myhostname',
    type: 'string',
    default: defaultMyhostname,
    doc: 'The fully qualified name of this mail system',
  },
  {
    name: 'mydomain',
    type: 'string',
    default: defaultMydomain,
    doc: 'The internet domain of this mail system',
  },
  {
    name: 'myorigin',
    type: 'string',
    default: '$myhostname',
    doc: 'The domain that locally posted mail appears to come from',
  },
  {
    name: 'mydestination',
    type: 'list',
    default: '$myhostname, localhost.$mydomain, localhost',
    doc: 'The domains delivered locally by the local_transport',
  },
  {
    name: 'mynetworks',
    type: 'list',
    default: defaultMynetworks,
    doc: 'Trusted clients, more privileged than strangers',
  },
  {
    name: 'mynetworks_style',
    type: 'string',
    default: '${{$compatibility_level} <level {2} ? {subnet} : {host}}',
    doc: 'How mynetworks is computed when unset: host, subnet or class',
  },
  {
    name: 'inet_interfaces',
    type: 'list',
    default: 'all',
    doc: 'The network addresses on which inet services listen',
  },
  {
    name: 'inet_protocols',
    type: 'list',
    default: 'all',
    doc: 'The address families used: ipv4, ipv6 or all',
  },
  {
    name: 'smtputf8_enable',
    type: 'bool',
    default: 'yes',
    doc: 'Support SMTPUTF8 (RFC 6531) in the SMTP server, client and cleanup',
  },
  {
    name: 'compatibility_level',
    type: 'string',
    default: '0',
    doc: 'The Postfix release whose defaults are in force',
  },

  // Paths.
  {
    name: 'queue_directory',
    type: 'string',
    default: '/var/spool/postfix',
    doc: 'The top of the mail queue tree',
  },
  {
    name: 'config_directory',
    type: 'string',
    default: '/etc/postfix',
    doc: 'Where main.cf and master.cf are (-c or MAIL_CONFIG)',
  },
  {
    name: 'daemon_directory',
    type: 'string',
    default: path.join(INSTALL_ROOT, 'dist', 'services'),
    doc: 'Where master finds <command>/<command>.js of master.cf',
  },
  {
    name: 'command_directory',
    type: 'string',
    default: path.join(INSTALL_ROOT, 'dist', 'packages', 'commands'),
    doc: 'Where the administrative commands are',
  },
  {
    name: 'data_directory',
    type: 'string',
    default: '/var/lib/postfix',
    doc: 'Where Postfix keeps its caches and random state',
  },

  // Accounts.
  {
    name: 'mail_owner',
    type: 'string',
    default: 'postfix',
    doc: 'The account that owns the queue and runs most daemons',
  },
  {
    name: 'setgid_group',
    type: 'string',
    default: 'postdrop',
    doc: 'The group of the maildrop queue and the set-gid commands',
  },
  // default_privs is in params_local.ts: local delivery is its only user.
  {
    name: 'mail_name',
    type: 'string',
    default: 'Postfix',
    doc: 'The mail system name in the SMTP greeting and bounces',
  },
  {
    name: 'mail_version',
    type: 'string',
    default: packageVersion(),
    doc: 'The version of this mail system',
  },

  // Logging.
  {
    name: 'syslog_name',
    type: 'string',
    default: '${multi_instance_name?{$multi_instance_name}:{postfix}}',
    doc: 'The first part of the program name in log lines',
  },
  {
    name: 'multi_instance_name',
    type: 'string',
    default: '',
    doc: 'The name of this instance in a multi-instance setup',
  },
  {
    name: 'maillog_file',
    type: 'string',
    default: '',
    doc: 'The file that master writes log lines to; empty for syslog',
  },
  {
    name: 'maillog_file_prefixes',
    type: 'list',
    default: '/var, /dev/stdout',
    doc: 'Allowed beginnings of maillog_file pathnames',
  },
  {
    name: 'maillog_file_rotate_suffix',
    type: 'string',
    default: '%Y%m%d-%H%M%S',
    doc: 'strftime() format appended by postfix logrotate',
  },
  {
    name: 'maillog_file_compressor',
    type: 'string',
    default: 'gzip',
    doc: 'The program that compresses rotated maillog files',
  },

  // Processes and IPC.
  {
    name: 'default_process_limit',
    type: 'int',
    default: '100',
    min: 1,
    doc: 'The maxproc of a master.cf service given as "-"',
  },
  {
    name: 'max_use',
    type: 'int',
    default: '100',
    min: 1,
    doc: 'Clients a daemon process serves before it exits',
  },
  {
    name: 'max_idle',
    type: 'time',
    default: '100s',
    unit: 's',
    min: 1,
    doc: 'How long an idle daemon process waits before it exits',
  },
  {
    name: 'max_clients_per_process',
    type: 'int',
    default: '100',
    min: 1,
    doc: 'ours: clients a process serves at once (retires: max_use x this)',
  },
  {
    name: 'service_throttle_time',
    type: 'time',
    default: '60s',
    unit: 's',
    min: 1,
    doc: 'How long master waits after a child failed to start',
  },
  {
    name: 'daemon_timeout',
    type: 'time',
    default: '18000s',
    unit: 's',
    min: 1,
    doc: 'How long a daemon may take to handle one request',
  },
  {
    name: 'ipc_timeout',
    type: 'time',
    default: '3600s',
    unit: 's',
    min: 1,
    doc: 'Time limit for one internal read or write',
  },
  {
    name: 'ipc_idle',
    type: 'time',
    default: '5s',
    unit: 's',
    min: 1,
    doc: 'How long a client keeps an idle internal connection',
  },
  {
    name: 'ipc_ttl',
    type: 'time',
    default: '1000s',
    unit: 's',
    min: 1,
    doc: 'How long a client keeps an internal connection at most',
  },
  {
    name: 'trigger_timeout',
    type: 'time',
    default: '10s',
    unit: 's',
    min: 1,
    doc: 'Time limit for sending a trigger to a daemon',
  },
  {
    name: 'import_environment',
    type: 'list',
    default:
      'MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C ' +
      'POSTLOG_SERVICE POSTLOG_HOSTNAME',
    doc: 'Environment that master passes on to its children',
  },
  {
    name: 'export_environment',
    type: 'list',
    default: 'TZ MAIL_CONFIG LANG',
    doc: 'Environment passed on to external commands',
  },

  // Queue.
  {
    name: 'hash_queue_names',
    type: 'list',
    default: 'deferred, defer',
    doc: 'Queues whose files are spread over subdirectories',
  },
  {
    name: 'queue_directory_fsync',
    type: 'bool',
    default: 'no',
    doc: 'ours: fsync the queue directory too when a queue file is committed',
  },
  {
    name: 'hash_queue_depth',
    type: 'int',
    default: '1',
    min: 1,
    doc: 'Levels of subdirectories of a hashed queue',
  },
  {
    name: 'enable_long_queue_ids',
    type: 'bool',
    default: 'no',
    doc: 'Long, non-repeating queue IDs instead of inode-based ones',
  },

  // Read-only: set by the program for $name use in other values.
  {
    name: 'process_id',
    type: 'string',
    default: '',
    readonly: true,
    doc: 'The process ID of the program (read-only)',
  },
  {
    name: 'process_name',
    type: 'string',
    default: '',
    readonly: true,
    doc: 'The name of the program (read-only)',
  },
  {
    name: 'service_name',
    type: 'string',
    default: '',
    readonly: true,
    doc: 'The master.cf service name of the program (read-only)',
  },
];
