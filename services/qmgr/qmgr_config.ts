// The settings qmgr reads once at start: queue timing, lifetimes, and per
// transport the concurrency and recipient limits, the concurrency
// feedback and the rate delay (main.cf <transport>_destination_*, else
// default_destination_*, as SCHEDULER_README) and the process limit
// (master.cf maxproc). Used by the queue manager and its tests.

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

// How much one delivery moves the window, given the window (Postfix's
// feedback values: a number, 1/concurrency or 1/sqrt_concurrency).
export type Feedback = (window: number) => number;

export interface TransportLimits {
  processLimit: number; // Infinity when master.cf says 0
  concurrencyLimit: number; // 0 means no limit
  recipientLimit: number; // 0 means no limit
  initialConcurrency: number;
  failedCohortLimit: number;
  positiveFeedback?: Feedback; // default: 1
  negativeFeedback?: Feedback; // default: 1
  rateDelay?: number; // seconds between deliveries; 0 = none
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

// <transport>_<suffix> as text, else default_<suffix>.
function perTransportText(
  config: QmgrConfig,
  transport: string,
  suffix: string,
): { name: string; text: string } {
  const name = `${transport}_${suffix}`;
  const raw = config.raw(name);
  if (raw === undefined)
    return { name: `default_${suffix}`, text: config.get(`default_${suffix}`) };
  return { name, text: config.expandText(raw, name).trim() };
}

const FEEDBACK_FORMS: Record<string, Feedback> = {
  '1/concurrency': (n) => 1 / n,
  '1/sqrt_concurrency': (n) => 1 / Math.sqrt(n),
};

export function parseFeedback(text: string): Feedback | undefined {
  const form = FEEDBACK_FORMS[text.toLowerCase()];
  if (form) return form;
  const value = Number(text);
  if (text === '' || !Number.isFinite(value) || value < 0 || value > 1)
    return undefined;
  return () => value;
}

function feedback(config: QmgrConfig, transport: string, suffix: string) {
  const { name, text } = perTransportText(config, transport, suffix);
  const parsed = parseFeedback(text);
  if (parsed) return parsed;
  msg.warn(`qmgr: bad feedback configuration: ${name} = ${text}: using 1`);
  return () => 1;
}

const TIME_UNIT: Record<string, number> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 604800,
};

function rateDelay(config: QmgrConfig, transport: string): number {
  const suffix = 'destination_rate_delay';
  const { name, text } = perTransportText(config, transport, suffix);
  const m = /^(\d+)([smhdw]?)$/i.exec(text);
  if (m) return Number(m[1]) * TIME_UNIT[(m[2] || 's').toLowerCase()];
  msg.warn(`qmgr: bad time configuration: ${name} = ${text}: ignored`);
  return 0;
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

const POSITIVE = 'destination_concurrency_positive_feedback';
const NEGATIVE = 'destination_concurrency_negative_feedback';

// Postfix's <transport>_initial_destination_concurrency, else the global.
function initialConcurrency(config: QmgrConfig, transport: string): number {
  const raw = config.raw(`${transport}_initial_destination_concurrency`);
  const value = raw === undefined ? NaN : Number(raw);
  if (Number.isInteger(value) && value >= 1) return value;
  return config.int('initial_destination_concurrency');
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
    initialConcurrency: initialConcurrency(config, transport),
    failedCohortLimit: own('destination_concurrency_failed_cohort_limit'),
    positiveFeedback: feedback(config, transport, POSITIVE),
    negativeFeedback: feedback(config, transport, NEGATIVE),
    rateDelay: rateDelay(config, transport),
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
