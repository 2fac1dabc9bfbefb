// A connection taken from the connection cache (scache) is checked with
// RSET, as Postfix's smtp does, not greeted again with EHLO: the sink's
// command log shows what went over the wire (issue 5 point 2). Runs
// adoptSession in this process on real loopback sockets.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { Readable } from 'node:stream';
import {
  adoptSession,
  type SessionSettings,
} from '../services/smtp/smtp_session';
import { startSink, type SmtpSink } from './sink/smtp_sink';
import { smtpTestSettings } from './smtp_settings';

function settings(lmtp: boolean): SessionSettings {
  return smtpTestSettings({ lmtp, quitTimeoutMs: 1000 });
}

// What the first smtp process did before it cached the socket: the
// greeting and EHLO, with their replies kept as endpoint properties.
async function greetedSocket(sink: SmtpSink, hello: string) {
  const socket = net.connect(sink.port, '127.0.0.1');
  let text = '';
  const reply = () =>
    new Promise<string>((resolve) => {
      const onData = (chunk: Buffer) => {
        text += chunk.toString('latin1');
        const m = /^(?:\d{3}-.*\r\n)*\d{3} .*\r\n/.exec(text);
        if (!m) return;
        socket.off('data', onData);
        text = text.slice(m[0].length);
        resolve(m[0].replace(/\r\n$/, '').split('\r\n').join('\n'));
      };
      socket.on('data', onData);
    });
  const greeting = await reply();
  socket.write(`${hello} client.example\r\n`);
  const ehlo = await reply();
  socket.pause();
  const prop = {
    peer: 'p[127.0.0.1]',
    relay: 'p[127.0.0.1]:25',
    greeting,
    ehlo,
  };
  return {
    socket,
    prop: JSON.stringify({ ...prop, openedAt: Date.now(), uses: 1 }),
  };
}

for (const lmtp of [false, true]) {
  const hello = lmtp ? 'LHLO' : 'EHLO';
  test(`does send RSET, not ${hello} again, on a cached ${lmtp ? 'LMTP' : 'SMTP'} connection`, async () => {
    const sink = await startSink({ lmtp });
    try {
      const { socket, prop } = await greetedSocket(sink, hello);
      const session = await adoptSession(socket, prop, settings(lmtp));
      assert.ok(session, 'the cached connection was refused');
      assert.deepEqual(sink.commands, [`${hello} client.example`, 'RSET']);
      assert.ok(session.extensions.includes('PIPELINING'));
      const envelope = { from: 'a@example.com', to: ['b@example.net'] };
      const body = Readable.from([Buffer.from('Subject: x\r\n\r\nx\r\n')]);
      const { err } = await session.send(envelope, body);
      assert.equal(err, undefined);
      assert.equal(sink.messages.length, 1);
      assert.equal(sink.commands.filter((c) => c.startsWith(hello)).length, 1);
      session.close();
    } finally {
      await sink.close();
    }
  });
}

test('does give up a cached connection the peer has closed', async () => {
  const sink = await startSink({});
  try {
    const { socket, prop } = await greetedSocket(sink, 'EHLO');
    sink.dropConnections();
    await new Promise((r) => socket.once('close', r));
    assert.equal(await adoptSession(socket, prop, settings(false)), undefined);
  } finally {
    await sink.close();
  }
});

test('does refuse cached properties without the EHLO reply', async () => {
  const sink = await startSink({});
  try {
    const { socket, prop } = await greetedSocket(sink, 'EHLO');
    const { ehlo: _, ...old } = JSON.parse(prop);
    assert.equal(
      await adoptSession(socket, JSON.stringify(old), settings(false)),
      undefined,
    );
    assert.deepEqual(sink.commands, ['EHLO client.example']);
  } finally {
    await sink.close();
  }
});

// A peer that greets and answers EHLO, then says nothing more.
async function mutePeer(): Promise<{
  port: number;
  close: () => Promise<void>;
}> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((c) => {
    sockets.add(c);
    c.on('error', () => undefined);
    c.write('220 mute.example ESMTP\r\n');
    c.once('data', () => c.write('250-mute.example\r\n250 PIPELINING\r\n'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const close = async () => {
    for (const c of sockets) c.destroy();
    await new Promise((r) => server.close(r));
  };
  return { port, close };
}

test('does give up a cached connection after smtp_rset_timeout without a reply', async () => {
  const peer = await mutePeer();
  try {
    const sink = { port: peer.port } as SmtpSink;
    const { socket, prop } = await greetedSocket(sink, 'EHLO');
    const started = Date.now();
    const s = { ...settings(false), rsetTimeoutMs: 300 };
    assert.equal(await adoptSession(socket, prop, s), undefined);
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 3000, `${took} ms`);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(socket.destroyed, 'the connection is closed');
  } finally {
    await peer.close();
  }
});
