// The settings qmgr reads once at start: queue timing, lifetimes, and per
// transport the concurrency and recipient limits (main.cf
// <transport>_destination_*, else default_destination_*) and the process
// limit (master.cf maxproc). Used by the queue manager and its tests.

import { readMasterCf } from '../../packages/config/master_cf';
import { CATALOG } from '../../packages/config/params';
import type { QueueConfig } from '../../packages/queue/mail_queue';
import type { TableConfig } from '../../packages/tables/dict';
import { msg } from '../../packages/log/log';

// What qmgr needs of Config; the real Config satisfies it.
export interface QmgrConfig extends QueueConfig, TableConfig {
  readonly configDir: string;
  time(name: string): number;
  raw(name: string): string | undefined;
  expandText(text: string, where?: string): string;
}

export interface TransportLimits {
  processLimit: number; // Infinity when master.cf says 0
  concurrencyLimit: number; // 0 means no limit
  recipientLimit: number; // 0 means no limit
  initialConcurrency: number;
  failedCohortLimit: number;
}

export interface QmgrSettings {
  queueRunDelay: number;
  minBackoff: number;
  maxBackoff: number;
  maxQueueLifetime: number;
  bounceQueueLifetime: number;
  activeLimit: number;
  transportRetryTime: number;
  limits(transport: string): TransportLimits;
}

// <transport>_<suffix>, as Postfix's per-transport parameters: the
// catalog knows a few (local_*), others are read raw.
function perTransport(
  config: QmgrConfig,
  transport: string,
  suffix: string,
): number {
  const name = `${transport}_${suffix}`;
  if (CATALOG.has(name)) return config.int(name);
  const raw = config.raw(name);
  if (raw === undefined) return config.int(`default_${suffix}`);
  const value = Number(config.expandText(raw, name));
  if (Number.isInteger(value) && value >= 0) return value;
  msg.warn(`qmgr: bad numerical configuration: ${name} = ${raw}: ignored`);
  return config.int(`default_${suffix}`);
}

function processLimits(config: QmgrConfig): Map<string, number> {
  const limits = new Map<string, number>();
  let entries;
  try {
    entries = readMasterCf(config.configDir, {
      defaultProcessLimit: config.int('default_process_limit'),
    }).entries;
  } catch {
    return limits; // no master.cf: tests, or master will complain first
  }
  for (const e of entries)
    if (e.type === 'unix') limits.set(e.name, e.maxproc || Infinity);
  return limits;
}

function transportLimits(
  config: QmgrConfig,
  procs: Map<string, number>,
  transport: string,
): TransportLimits {
  const own = (suffix: string) => perTransport(config, transport, suffix);
  return {
    processLimit: procs.get(transport) ?? config.int('default_process_limit'),
    concurrencyLimit: own('destination_concurrency_limit'),
    recipientLimit: own('destination_recipient_limit'),
    initialConcurrency: config.int('initial_destination_concurrency'),
    failedCohortLimit: own('destination_concurrency_failed_cohort_limit'),
  };
}

export function loadSettings(config: QmgrConfig): QmgrSettings {
  const procs = processLimits(config);
  const cache = new Map<string, TransportLimits>();
  const limits = (transport: string): TransportLimits => {
    let known = cache.get(transport);
    if (!known) {
      known = transportLimits(config, procs, transport);
      cache.set(transport, known);
    }
    return known;
  };
  return {
    queueRunDelay: config.time('queue_run_delay'),
    minBackoff: config.time('minimal_backoff_time'),
    maxBackoff: config.time('maximal_backoff_time'),
    maxQueueLifetime: config.time('maximal_queue_lifetime'),
    bounceQueueLifetime: config.time('bounce_queue_lifetime'),
    activeLimit: config.int('qmgr_message_active_limit'),
    transportRetryTime: config.time('transport_retry_time'),
    limits,
  };
}
