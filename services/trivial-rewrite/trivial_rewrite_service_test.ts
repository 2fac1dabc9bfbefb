// Tests of the rewrite service protocol over a real Unix socket, with a
// real Config from a temporary folder.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AttrStream } from '../../packages/ipc/ipc';
import { Config } from '../../packages/config/config';
import { initLog } from '../../packages/log/log';
import { RESOLVE_CLASS } from '../../packages/address/resolve';
import { handleRewriteClient } from './trivial_rewrite_service';

const logged: string[] = [];
initLog({ processName: 'trivial-rewrite', sinks: [(l) => logged.push(l)] });

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rewrite-'));
fs.writeFileSync(path.join(dir, 'main.cf'), '');
const config = Config.load({
  configDir: dir,
  overrides: {
    myhostname: 'mx.example.com',
    mydomain: 'example.com',
    myorigin: '$mydomain',
    mydestination: '$myhostname, $mydomain',
    transport_maps: 'inline:{ far.example=smtp:[gw.example] }',
  },
});
const socketPath = path.join(dir, 'rewrite');
const server = net.createServer(
  (socket) => void handleRewriteClient(socket, config),
);

test.before(
  () => new Promise<void>((resolve) => server.listen(socketPath, resolve)),
);
test.after(() => {
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function connect(): Promise<AttrStream> {
  const socket = net.connect(socketPath);
  await new Promise((resolve) => socket.once('connect', resolve));
  const stream = new AttrStream(socket);
  assert.deepEqual(await stream.readAttrs(), { protocol: 'rewrite_protocol' });
  return stream;
}

test('does answer rewrite and resolve requests when asked on one connection', async () => {
  const stream = await connect();
  stream.writeAttrs({ request: 'rewrite', rule: 'local', address: 'joe' });
  assert.deepEqual(await stream.readAttrs(), {
    flags: '0',
    address: 'joe@example.com',
  });

  stream.writeAttrs({
    request: 'resolve',
    sender: '',
    address: 'a@far.example',
  });
  const far = await stream.readAttrs();
  assert.equal(far.transport, 'smtp');
  assert.equal(far.nexthop, '[gw.example]');
  assert.equal(far.recipient, 'a@far.example');
  assert.ok(Number(far.flags) & RESOLVE_CLASS.default);

  stream.writeAttrs({ request: 'resolve', sender: '', address: 'joe' });
  const local = await stream.readAttrs();
  assert.deepEqual(
    [local.transport, local.nexthop],
    ['local', 'mx.example.com'],
  );
  stream.destroy();
});

test('does close the connection with a warning when the request is unknown', async () => {
  const stream = await connect();
  stream.writeAttrs({ request: 'bogus' });
  await assert.rejects(stream.readAttrs(), /connection closed/);
  assert.ok(
    logged.some((l) => l.includes('warning: unrecognized request: "bogus"')),
  );
});
