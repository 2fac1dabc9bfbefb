// One message in the active queue: its envelope as read from the file,
// its recipients resolved to transport and nexthop, and the delivery
// jobs they make (grouped per transport and destination, cut to the
// transport's recipient limit). Used by the queue manager.

import type {
  QueueEnvelope,
  QueueRecipient,
} from '../../packages/queue/queue_file';
import type { TransportLimits } from './qmgr_config';
import { msg } from '../../packages/log/log';
import {
  parseTransport,
  type TransportSpec,
} from '../../packages/address/config_values';

export interface Resolution {
  transport: string;
  nexthop: string;
  recipient: string;
  flags: number;
}

export type Resolve = (address: string) => Promise<Resolution>;

// Postfix's resolve_clnt.h bits that qmgr acts on.
export const RESOLVE_ERROR = 1 << 2; // bad address syntax
export const RESOLVE_FAIL = 1 << 3; // a table lookup failed

export interface QmgrRecipient extends QueueRecipient {
  transport: string;
  nexthop: string;
  address: string; // the resolved recipient sent to the agent
  flags: number; // resolve flags, with the address class bit
}

// RESOLVE_CLASS.local of packages/address/resolve.ts.
const RESOLVE_CLASS_LOCAL = 1 << 8;

// Mail to the local double-bounce address is a bounce that could not be
// delivered; Postfix discards it in qmgr so that it can never loop.
export function isDoubleBounce(rcpt: QmgrRecipient, user: string): boolean {
  if (!(rcpt.flags & RESOLVE_CLASS_LOCAL)) return false;
  const at = rcpt.address.lastIndexOf('@');
  const local = at < 0 ? rcpt.address : rcpt.address.slice(0, at);
  return local.toLowerCase() === user.toLowerCase();
}

export interface QmgrJob {
  message: QmgrMessage;
  transport: string;
  queueKey: string; // destination: nexthop, or the recipient at limit 1
  nexthop: string;
  recipients: QmgrRecipient[];
}

// A recipient qmgr finishes itself, without an agent.
export interface Unroutable {
  rcpt: QueueRecipient;
  dsn: string;
  reason: string;
  hard: boolean; // bounce rather than defer
}

export class QmgrMessage {
  readonly id: string;
  readonly env: QueueEnvelope;
  readonly activeArrival: number;
  outstanding = 0; // jobs queued or running
  deferred = false; // some recipient was deferred in this pass
  // Offsets of the recipients not yet known to be marked done in the
  // file; told by markRecipientDone (queue_file.ts) as they are, and by
  // an agent's delivered or relayed answer (qmgr_deliver.ts).
  readonly pending: Set<number>;

  constructor(env: QueueEnvelope, activeArrival: number) {
    this.id = env.queueId;
    this.env = env;
    this.activeArrival = activeArrival;
    this.pending = new Set(env.recipients.map((r) => r.offset));
  }

  // The size and count that Postfix's "queue active" line shows.
  get logSize(): number {
    return this.env.contentLength || this.env.contentSize;
  }

  get logCount(): number {
    return (
      this.env.rcptCount || this.env.recipients.length + this.env.done.length
    );
  }
}

async function resolveOne(
  rcpt: QueueRecipient,
  resolve: Resolve,
): Promise<QmgrRecipient | Unroutable> {
  let r: Resolution;
  try {
    r = await resolve(rcpt.recipient);
  } catch {
    return {
      rcpt,
      dsn: '4.3.0',
      reason: 'address resolver failure',
      hard: false,
    };
  }
  if (r.flags & RESOLVE_FAIL)
    return {
      rcpt,
      dsn: '4.3.0',
      reason: 'address resolver failure',
      hard: false,
    };
  if (r.flags & RESOLVE_ERROR)
    return { rcpt, dsn: '5.1.3', reason: 'bad address syntax', hard: true };
  return {
    ...rcpt,
    transport: r.transport,
    nexthop: r.nexthop,
    address: r.recipient,
    flags: r.flags,
  };
}

// A message with a content filter (FILTER record: content_filter, or an
// access or header_checks FILTER action) goes whole to that
// transport:destination, unresolved, as Postfix's qmgr sends it; an empty
// destination is $myhostname. A record without a colon is ignored.
export function filterRoute(
  message: QmgrMessage,
  myhostname: string,
): TransportSpec | null {
  const filter = message.env.filter;
  if (!filter) return null;
  const spec = parseTransport(filter);
  if (!filter.includes(':') || !spec.transport) {
    msg.warn(`${message.id}: ignoring bad content filter: ${filter}`);
    return null;
  }
  return { transport: spec.transport, nexthop: spec.nexthop || myhostname };
}

export async function resolveRecipients(
  message: QmgrMessage,
  resolve: Resolve,
  myhostname = '',
): Promise<{ routed: QmgrRecipient[]; unroutable: Unroutable[] }> {
  const routed: QmgrRecipient[] = [];
  const unroutable: Unroutable[] = [];
  const filter = filterRoute(message, myhostname);
  if (filter) {
    for (const rcpt of message.env.recipients)
      routed.push({ ...rcpt, ...filter, address: rcpt.recipient, flags: 0 });
    return { routed, unroutable };
  }
  for (const rcpt of message.env.recipients) {
    const got = await resolveOne(rcpt, resolve);
    if ('transport' in got) routed.push(got);
    else unroutable.push(got);
  }
  return { routed, unroutable };
}

// Group per transport and destination, in the order recipients appear,
// and cut each group to the recipient limit (0: no limit).
export function buildJobs(
  message: QmgrMessage,
  routed: QmgrRecipient[],
  limits: (transport: string) => TransportLimits,
): QmgrJob[] {
  const groups = new Map<string, QmgrJob[]>();
  const jobs: QmgrJob[] = [];
  for (const rcpt of routed) {
    const limit = limits(rcpt.transport).recipientLimit;
    const dest = limit === 1 ? rcpt.address : rcpt.nexthop;
    const queueKey = dest.toLowerCase();
    const key = `${rcpt.transport}\0${queueKey}`;
    const list = groups.get(key) ?? [];
    groups.set(key, list);
    let job = list[list.length - 1];
    if (!job || (limit > 0 && job.recipients.length >= limit)) {
      job = {
        message,
        transport: rcpt.transport,
        queueKey,
        nexthop: rcpt.nexthop,
        recipients: [],
      };
      list.push(job);
      jobs.push(job);
    }
    job.recipients.push(rcpt);
  }
  return jobs;
}
