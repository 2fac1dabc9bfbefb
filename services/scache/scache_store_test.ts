// Tests for scache_store.ts on real loopback sockets: endpoint and
// destination lookups, the time to live, a peer that goes away while its
// connection is cached, and the statistics counts.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { ScacheStore } from './scache_store';

interface Pair {
  client: net.Socket;
  server: net.Socket;
  received: string[];
}

async function withServer(run: (open: () => Promise<Pair>) => Promise<void>) {
  const accepted: Array<(s: net.Socket) => void> = [];
  const server = net.createServer((s) => accepted.shift()?.(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const pairs: Pair[] = [];
  const open = async (): Promise<Pair> => {
    const got = new Promise<net.Socket>((r) => accepted.push(r));
    const client = net.connect(port, '127.0.0.1');
    const peer = await got;
    const pair = { client, server: peer, received: [] as string[] };
    peer.on('data', (d) => pair.received.push(d.toString()));
    pairs.push(pair);
    return pair;
  };
  try {
    await run(open);
  } finally {
    for (const p of pairs) (p.client.destroy(), p.server.destroy());
    await new Promise((r) => server.close(r));
  }
}

const closed = (s: net.Socket) =>
  new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));

test('does find a saved session by endpoint and by destination', async () => {
  await withServer(async (open) => {
    const store = new ScacheStore();
    const a = await open();
    store.saveEndp('smtp:127.0.0.1:25', a.client, '{"p":1}', 5000);
    store.saveDest('smtp:example.com', 'smtp:127.0.0.1:25', 5000);
    const found = store.findDest('smtp:example.com');
    assert.equal(found?.socket, a.client);
    assert.equal(found?.prop, '{"p":1}');
    assert.equal(found?.endp, 'smtp:127.0.0.1:25');
    assert.equal(store.findEndp('smtp:127.0.0.1:25'), undefined, 'taken');
    assert.equal(store.findDest('smtp:example.com'), undefined);
    assert.deepEqual(
      { ...store.stats },
      {
        destHits: 1,
        destMisses: 1,
        endpHits: 0,
        endpMisses: 1,
        maxDests: 1,
        maxEndps: 1,
        maxSessions: 1,
      },
    );
    store.closeAll();
  });
});

test('does close a session with QUIT when its time to live ends', async () => {
  await withServer(async (open) => {
    const store = new ScacheStore();
    const a = await open();
    store.saveEndp('smtp:e', a.client, '{}', 100);
    await closed(a.client);
    assert.equal(store.size, 0);
    assert.equal(a.received.join(''), 'QUIT\r\n');
    assert.equal(store.findEndp('smtp:e'), undefined);
  });
});

test('does drop a session when the peer goes away while it waits', async () => {
  await withServer(async (open) => {
    const store = new ScacheStore();
    const a = await open();
    const b = await open();
    store.saveEndp('smtp:e', a.client, 'a', 5000);
    store.saveEndp('smtp:e', b.client, 'b', 5000);
    b.server.destroy();
    await closed(b.client);
    assert.equal(store.size, 1);
    assert.equal(store.findEndp('smtp:e')?.prop, 'a');
    store.closeAll();
  });
});

test('does forget a destination after its time to live', async () => {
  await withServer(async (open) => {
    const store = new ScacheStore();
    const a = await open();
    store.saveEndp('smtp:e', a.client, 'a', 5000);
    store.saveDest('smtp:d', 'smtp:e', 50);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(store.findDest('smtp:d'), undefined);
    assert.equal(store.findEndp('smtp:e')?.prop, 'a', 'the endpoint stays');
    store.closeAll();
  });
});
