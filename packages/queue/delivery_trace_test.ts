// Tests for delivery_trace.ts: which deliveries become trace records, the
// answer to a probe, and serveDeliveryRequest writing trace/ID through a
// real trace service (bounce_service.ts) on a Unix socket.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  deliverRequest,
  logDelivery,
  serveDeliveryRequest,
  type DeliveryLogEntry,
  type DeliveryRequest,
  type QueueFileOf,
} from './delivery';
import {
  answerProbe,
  DEL_REQ_FLAG,
  DSN_NOTIFY,
  traceReason,
  traceRecords,
  type TraceTarget,
} from './delivery_trace';
import { readStatusLog, STATUS_LOG } from './status_log';
import { serveBounce } from '../../services/bounce/bounce_service';
import { initLog } from '../log/log';

initLog({ processName: 'local', sinks: [] });

const MAIN: Record<string, string> = {
  home_mailbox: 'Maildir/',
  mail_spool_directory: '/var/mail',
  mailbox_command: '',
};

const CONFIG = {
  get: (name: string) => MAIN[name] ?? '',
  list: () => [],
  int: () => 1,
  bool: () => false,
};

function request(flags: number, notifyFlags = 0): DeliveryRequest {
  return {
    flags,
    queueName: 'active',
    queueId: 'ABC123',
    offset: 300,
    size: 100,
    nexthop: 'example.com',
    encoding: '',
    sendopts: 0,
    sender: 'a@example.net',
    envelopeId: '',
    retFlags: 0,
    arrivalTime: 1000,
    activeArrival: 1000,
    agentHandoff: 1000,
    logClientName: '',
    logClientAddress: '',
    logClientPort: '',
    logProtocolName: '',
    logHeloName: '',
    rewriteContext: '',
    recipients: [
      {
        originalRecipient: 'bob@example.com',
        recipient: 'bob@example.com',
        offset: 200,
        dsnOrigRcpt: '',
        notifyFlags,
      },
    ],
  };
}

function entry(
  req: DeliveryRequest,
  relay: string,
  status: DeliveryLogEntry['status'],
  reason: string,
): DeliveryLogEntry {
  const dsn = status === 'sent' ? '2.0.0' : '5.1.1';
  return {
    request: req,
    recipient: req.recipients[0],
    relay,
    dsn,
    status,
    reason,
  };
}

// [what, flags, notify, relay, status, result action, reason, want]; want
// is [action, reason] of the one record, or null for no record.
const CASES: Array<
  [
    string,
    number,
    number,
    string,
    DeliveryLogEntry['status'],
    'delivered' | 'relayed' | 'failed',
    string,
    [string, string] | null,
  ]
> = [
  [
    'a -v local delivery',
    DEL_REQ_FLAG.RECORD,
    0,
    'local',
    'sent',
    'delivered',
    'delivered to maildir',
    ['delivered', 'delivery via local: delivered to maildir'],
  ],
  [
    'a -v bounce',
    DEL_REQ_FLAG.RECORD,
    0,
    'local',
    'bounced',
    'failed',
    'unknown user: "bob"',
    ['failed', 'delivery via local: unknown user: "bob"'],
  ],
  [
    'NOTIFY=SUCCESS relayed by smtp',
    0,
    DSN_NOTIFY.SUCCESS,
    'mx.example.com[192.0.2.1]:25',
    'sent',
    'relayed',
    '250 2.0.0 Ok: queued as X',
    [
      'relayed',
      'delivery via mx.example.com[192.0.2.1]:25: 250 2.0.0 Ok: queued as X',
    ],
  ],
  [
    'a success without NOTIFY=SUCCESS',
    0,
    0,
    'local',
    'sent',
    'delivered',
    'delivered to maildir',
    null,
  ],
  [
    'a failure with NOTIFY=SUCCESS only',
    0,
    DSN_NOTIFY.SUCCESS,
    'local',
    'bounced',
    'failed',
    'unknown user: "bob"',
    null,
  ],
];

for (const [what, flags, notify, relay, status, action, reason, want] of CASES)
  test(`does record the right trace line for ${what}`, () => {
    const req = request(flags, notify);
    const answer = {
      results: [{ offset: 200, status: '2.0.0', action, reason }],
    };
    const got = traceRecords(req, answer, [entry(req, relay, status, reason)]);
    assert.deepEqual(
      got.map((r) => [r.action, r.reason]),
      want ? [want] : [],
    );
  });

test('does give an smtp success a Remote-MTA and a Diagnostic-Code', () => {
  const req = request(0, DSN_NOTIFY.SUCCESS);
  const answer = {
    results: [
      { offset: 200, status: '2.0.0', action: 'relayed' as const, reason: '' },
    ],
  };
  const e = entry(req, 'mx.example.com[192.0.2.1]:25', 'sent', '250 2.0.0 Ok');
  const [r] = traceRecords(req, answer, [e]);
  assert.equal(r.mtaMname, 'mx.example.com');
  assert.equal(r.diagType, 'smtp');
  assert.equal(r.diagText, '250 2.0.0 Ok');
});

test('does leave out "delivery via" when no relay was involved', () => {
  assert.equal(traceReason('none', 'why'), 'why');
  assert.equal(traceReason('local', 'why'), 'delivery via local: why');
});

// [service, main.cf, log status, reason]
const PROBES: Array<[string, Record<string, string>, string, string]> = [
  ['local', { home_mailbox: 'Maildir/' }, 'deliverable', 'delivers to maildir'],
  ['local', { home_mailbox: '' }, 'deliverable', 'delivers to mailbox'],
  [
    'local',
    { mailbox_command: '/usr/bin/procmail' },
    'deliverable',
    'delivers to command: /usr/bin/procmail',
  ],
  ['error', {}, 'undeliverable', 'example.com'],
];

test('does answer a probe by what the agent would do', () => {
  for (const [service, main, status, reason] of PROBES) {
    const saved = { ...MAIN };
    Object.assign(MAIN, main);
    const t: TraceTarget = {
      queueDir: '/nonexistent',
      config: CONFIG,
      service,
    };
    const p = answerProbe(t, request(DEL_REQ_FLAG.USR_VRFY));
    Object.assign(MAIN, saved);
    assert.equal(p.entries[0].status, status, service);
    assert.equal(p.entries[0].reason, reason, service);
    assert.equal(p.records[0].action, status, service);
    // qmgr must neither bounce nor retry a probe.
    assert.equal(p.answer.results[0].action, 'delivered', service);
  }
});

// A queue directory with a trace service and one agent on private/local.
async function startAgent(
  t: test.TestContext,
  deliver: (req: DeliveryRequest) => Promise<void>,
): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'delivery_trace-'));
  fs.mkdirSync(path.join(dir, 'private'));
  const of: QueueFileOf = () => path.join(dir, 'active', 'ABC123');
  of.trace = { queueDir: dir, config: CONFIG, service: 'local' };
  const agent = net.createServer((socket) =>
    serveDeliveryRequest(socket, of, async (req) => {
      await deliver(req);
      return {
        results: req.recipients.map((r) => ({
          offset: r.offset,
          status: '2.0.0',
          action: 'delivered' as const,
          reason: 'delivered to maildir',
        })),
      };
    }),
  );
  const trace = net.createServer(
    (socket) => void serveBounce(socket, dir, CONFIG, 'trace'),
  );
  const listen = (s: net.Server, name: string) =>
    new Promise<void>((res) => s.listen(path.join(dir, 'private', name), res));
  await listen(agent, 'local');
  await listen(trace, 'trace');
  t.after(() => {
    agent.close();
    trace.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

test('does write trace/ID through the trace service before qmgr hears', async (t) => {
  const dir = await startAgent(t, async (req) =>
    logDelivery({
      request: req,
      recipient: req.recipients[0],
      relay: 'local',
      dsn: '2.0.0',
      status: 'sent',
      reason: 'delivered to maildir',
    }),
  );
  const results = await deliverRequest(
    dir,
    'local',
    request(DEL_REQ_FLAG.RECORD),
  );
  assert.equal(results[0].action, 'delivered');
  const log = await readStatusLog(dir, STATUS_LOG.TRACE, 'ABC123', CONFIG);
  assert.deepEqual(
    log.map((r) => [r.recipient, r.action, r.reason]),
    [
      [
        'bob@example.com',
        'delivered',
        'delivery via local: delivered to maildir',
      ],
    ],
  );
});

test('does not call the agent for a probe', async (t) => {
  let called = false;
  const dir = await startAgent(t, async () => {
    called = true;
  });
  const results = await deliverRequest(
    dir,
    'local',
    request(DEL_REQ_FLAG.USR_VRFY),
  );
  assert.equal(called, false);
  assert.equal(results[0].status, '2.0.0');
  const log = await readStatusLog(dir, STATUS_LOG.TRACE, 'ABC123', CONFIG);
  assert.deepEqual(
    log.map((r) => [r.action, r.reason]),
    [['deliverable', 'delivery via local: delivers to maildir']],
  );
});
