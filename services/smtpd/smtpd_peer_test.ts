// Tests for the client name lookup on a real loopback connection.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { lookupClient } from './smtpd_peer';

async function withAccepted(
  fn: (s: net.Socket) => Promise<void>,
): Promise<void> {
  let accepted: net.Socket | null = null;
  const server = net.createServer((s) => (accepted = s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  while (!accepted) await new Promise((r) => setTimeout(r, 10));
  try {
    await fn(accepted);
  } finally {
    client.destroy();
    (accepted as net.Socket).destroy();
    await new Promise((r) => server.close(r));
  }
}

test('lookupClient does name 127.0.0.1 localhost when the lookup is on', async () => {
  await withAccepted(async (s) => {
    const c = await lookupClient(s, true, 5000);
    assert.equal(c.addr, '127.0.0.1');
    assert.equal(c.name, 'localhost');
  });
});

test('lookupClient does name the client unknown when smtpd_peername_lookup is no', async () => {
  await withAccepted(async (s) => {
    const c = await lookupClient(s, false, 5000);
    assert.deepEqual([c.name, c.addr], ['unknown', '127.0.0.1']);
  });
});
