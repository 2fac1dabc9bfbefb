// Tests for delivery.ts: both sides of the delivery protocol over a real
// Unix socket under a temporary queue directory, Postfix's delay
// formatting, and the shape of the delivery log line.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AttrStream } from '../ipc/ipc';
import {
  deliverRequest,
  deliverRequestOutcome,
  DeliveryError,
  TransportUnavailableError,
  deliveryLogLine,
  formatDelay,
  readDeliveryRequest,
  writeDeliveryResults,
  type DeliveryRequest,
} from './delivery';
import { sampleRequest } from './delivery_testkit';

const DELAYS: Array<[number, string]> = [
  [0.001, '0'],
  [0.005, '0.01'],
  [0.0111, '0.01'],
  [0.111, '0.11'],
  [0.5, '0.5'],
  [0.999, '1'],
  [1.11, '1.1'],
  [1.96, '2'],
  [9.96, '10'],
  [11.1, '11'],
  [99.6, '100'],
  [1234.5, '1235'],
  [0, '0'],
];

for (const [seconds, text] of DELAYS) {
  test(`formats delay ${seconds} as ${text}`, () => {
    assert.equal(formatDelay(seconds), text);
  });
}

const request = () => sampleRequest();

test('carries a request and its results between qmgr and an agent', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'delivery_test-'));
  fs.mkdirSync(path.join(dir, 'private'));
  let seen: DeliveryRequest | undefined;
  const server = net.createServer(async (socket) => {
    const stream = AttrStream.fromSocket(socket);
    seen = await readDeliveryRequest(stream);
    await writeDeliveryResults(stream, [
      {
        offset: 200,
        status: '2.0.0',
        action: 'delivered',
        reason: 'delivered to mailbox',
      },
      {
        offset: 250,
        status: '5.1.1',
        action: 'failed',
        reason: 'unknown user: "eve"',
      },
    ]);
    stream.close();
  });
  await new Promise<void>((res) =>
    server.listen(path.join(dir, 'private', 'local'), res),
  );
  t.after(() => {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const results = await deliverRequest(dir, 'local', request());
  assert.deepEqual(seen, request());
  assert.deepEqual(
    results.map((r) => [r.offset, r.action, r.status]),
    [
      [200, 'delivered', '2.0.0'],
      [250, 'failed', '5.1.1'],
    ],
  );
});

test('throws DeliveryError when the transport is not there', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'delivery_test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  await assert.rejects(
    deliverRequest(dir, 'nosuch', request()),
    TransportUnavailableError,
  );
});

test('throws DeliveryError when the agent breaks the protocol', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'delivery_test-'));
  fs.mkdirSync(path.join(dir, 'private'));
  const server = net.createServer((socket) => socket.end('protocol\0junk\0\0'));
  await new Promise<void>((res) =>
    server.listen(path.join(dir, 'private', 'bad'), res),
  );
  t.after(() => {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await assert.rejects(deliverRequest(dir, 'bad', request()), DeliveryError);
});

// A connection that no agent greets (qmgr_ipc_timeout) is given up
// quickly, not after the whole delivery time limit.
test('throws DeliveryError when no agent greets within the greeting time', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'delivery_test-'));
  fs.mkdirSync(path.join(dir, 'private'));
  const held: net.Socket[] = [];
  const server = net.createServer((socket) => void held.push(socket));
  await new Promise<void>((res) =>
    server.listen(path.join(dir, 'private', 'mute'), res),
  );
  t.after(() => {
    for (const s of held) s.destroy();
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const from = Date.now();
  await assert.rejects(
    deliverRequestOutcome(dir, 'mute', request(), 60_000, 300),
    /timeout connecting to transport: mute/,
  );
  assert.ok(Date.now() - from < 5000);
});

test('builds the delivery log line in Postfix shape with orig_to', () => {
  const req = request();
  const line = deliveryLogLine({
    request: req,
    recipient: req.recipients[0],
    relay: 'local',
    dsn: '2.0.0',
    status: 'sent',
    reason: 'delivered to mailbox',
    now: 1000.55,
  });
  assert.equal(
    line,
    '4F9D62A1F3: to=<bob@mx.example.com>, orig_to=<bob>, relay=local, ' +
      'delay=0.05, delays=0.03/0.01/0/0.01, dsn=2.0.0, status=sent ' +
      '(delivered to mailbox)',
  );
  const noOrig = deliveryLogLine({
    request: req,
    recipient: req.recipients[1],
    relay: 'none',
    dsn: '4.3.0',
    status: 'deferred',
    reason: 'mail transport unavailable',
    now: 1000.55,
  });
  assert.doesNotMatch(noOrig, /orig_to/);
});
