// Tests for kept delivery connections (packages/ipc/kept_connection.ts
// as delivery.ts uses it): qmgr's side and an agent's
// (serveDeliveryRequest) over real Unix sockets under a temporary queue
// directory, counting connections and requests.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  closeKeptConnections,
  deliverRequest,
  serveDeliveryRequest,
} from './delivery';
import type { KeepLimits } from '../ipc/kept_connection';
import { sampleRequest } from './delivery_testkit';

const request = (id: string) =>
  sampleRequest(id, [
    {
      originalRecipient: '',
      recipient: `${id}@mx.example.com`,
      offset: 200,
      dsnOrigRcpt: '',
      notifyFlags: 0,
    },
  ]);

interface Agent {
  dir: string;
  connections: number;
  served: string[];
  sockets: Set<net.Socket>;
}

// An agent on private/smtp that answers each recipient "sent"; reuse as
// serveDeliveryRequest takes it, or none.
async function startAgent(
  t: test.TestContext,
  reuse?: KeepLimits,
): Promise<Agent> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'delivery_reuse-'));
  fs.mkdirSync(path.join(dir, 'private'));
  const agent: Agent = { dir, connections: 0, served: [], sockets: new Set() };
  const server = net.createServer((socket) => {
    agent.connections++;
    agent.sockets.add(socket);
    socket.on('close', () => agent.sockets.delete(socket));
    void serveDeliveryRequest(
      socket,
      () => path.join(dir, 'no-such-file'),
      async (req) => {
        agent.served.push(req.queueId);
        return {
          results: req.recipients.map((r) => ({
            offset: r.offset,
            status: '2.0.0',
            action: 'relayed' as const,
            reason: '250 2.0.0 Ok',
          })),
        };
      },
      reuse,
    );
  });
  await new Promise<void>((res) =>
    server.listen(path.join(dir, 'private', 'smtp'), res),
  );
  t.after(() => {
    closeKeptConnections();
    for (const s of agent.sockets) s.destroy();
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return agent;
}

const always = (): KeepLimits => ({
  ending: () => false,
  lifetimeMs: 60_000,
});

async function deliverIds(dir: string, ids: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) {
    const [r] = await deliverRequest(dir, 'smtp', request(id));
    out.push(`${id} ${r.action} ${r.status}`);
  }
  return out;
}

test('does serve requests one after another on one kept connection', async (t) => {
  const agent = await startAgent(t, always());
  const got = await deliverIds(agent.dir, ['A1', 'A2', 'A3']);
  assert.deepEqual(got, [
    'A1 relayed 2.0.0',
    'A2 relayed 2.0.0',
    'A3 relayed 2.0.0',
  ]);
  assert.deepEqual(agent.served, ['A1', 'A2', 'A3']);
  assert.equal(agent.connections, 1);
});

test('does keep as many connections as requests ran at once', async (t) => {
  const agent = await startAgent(t, always());
  const burst = (p: string) =>
    Promise.all(
      [1, 2, 3].map((i) => deliverRequest(agent.dir, 'smtp', request(p + i))),
    );
  await burst('B');
  await burst('C');
  assert.equal(agent.served.length, 6);
  assert.equal(agent.connections, 3);
});

test('does open a new connection when the agent ends the kept one', async (t) => {
  // The agent retires after its first request: it closes that
  // connection instead of waiting for another.
  let ending = false;
  const agent = await startAgent(t, {
    ending: () => ending,
    lifetimeMs: 60_000,
  });
  assert.deepEqual(await deliverIds(agent.dir, ['D1']), ['D1 relayed 2.0.0']);
  ending = true;
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await deliverIds(agent.dir, ['D2']), ['D2 relayed 2.0.0']);
  assert.deepEqual(agent.served, ['D1', 'D2']);
  assert.equal(agent.connections, 2);
});

test('does lose no request when a kept connection dies before it is used', async (t) => {
  const agent = await startAgent(t, always());
  await deliverIds(agent.dir, ['E1']);
  // The agent process dies while qmgr holds its idle connection.
  for (const s of agent.sockets) s.destroy();
  assert.deepEqual(await deliverIds(agent.dir, ['E2']), ['E2 relayed 2.0.0']);
  assert.deepEqual(agent.served, ['E1', 'E2']);
  assert.equal(agent.connections, 2);
});

test('does use a connection per request with an agent that offers no reuse', async (t) => {
  const agent = await startAgent(t);
  await deliverIds(agent.dir, ['F1', 'F2']);
  assert.deepEqual(agent.served, ['F1', 'F2']);
  assert.equal(agent.connections, 2);
});
