// Tests for the one reply builder (enhanced code class, line format) and
// for SmtpdChat holding replies to pipelined commands for one write.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { formatMultiline, formatReply, reply, SmtpdChat } from './smtpd_chat';
import { SmtpdInput } from './smtpd_input';

const CASES: Array<[number, string, string, string]> = [
  [250, '2.0.0', 'Ok', '250 2.0.0 Ok\r\n'],
  [504, '4.5.2', 'x', '504 5.5.2 x\r\n'],
  [450, '5.7.1', 'y', '450 4.7.1 y\r\n'],
  [220, '', 'mx ESMTP Postfix', '220 mx ESMTP Postfix\r\n'],
  [501, '5.1.7', 'bad\r\nRSET', '501 5.1.7 bad  RSET\r\n'],
];

for (const [code, dsn, text, want] of CASES) {
  test(`formatReply does give ${JSON.stringify(want)} for ${code} ${dsn}`, () => {
    assert.equal(formatReply(reply(code, dsn, text)), want);
  });
}

test('formatMultiline does mark all but the last line with a dash', () => {
  assert.equal(
    formatMultiline(250, ['mx', 'PIPELINING', 'CHUNKING']),
    '250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n',
  );
});

// A connected pair of real sockets on the loopback interface.
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect(port, '127.0.0.1');
  const ours = await accepted;
  server.close();
  return [ours, client];
}

test('SmtpdChat does hold replies until the session waits for the client', async (t) => {
  const [ours, client] = await socketPair();
  t.after(() => (ours.destroy(), client.destroy()));
  let writes = 0;
  const write = ours.write.bind(ours) as (text: string) => boolean;
  ours.write = ((text: string) => (writes++, write(text))) as typeof ours.write;
  const chat = new SmtpdChat(ours, { softErrorLimit: 10, errorSleepMs: 0 });
  const input = new SmtpdInput(ours, 5000, false, () => chat.flush());
  client.write('MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n');
  for (const text of ['250 2.1.0 Ok', '250 2.1.5 Ok', '354 go']) {
    await input.readLine(1000);
    await chat.send(reply(Number(text.slice(0, 3)), '', text.slice(4)));
  }
  assert.equal(writes, 0, 'nothing written while commands were waiting');
  const got = new Promise<string>((r) => client.once('data', (d) => r(`${d}`)));
  const next = input.readLine(1000).catch(() => null);
  assert.equal(writes, 1);
  assert.equal(await got, '250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n');
  ours.destroy();
  await next;
});

test('SmtpdChat does write at once past 4 KB held', async (t) => {
  const [ours, client] = await socketPair();
  t.after(() => (ours.destroy(), client.destroy()));
  let writes = 0;
  const write = ours.write.bind(ours) as (text: string) => boolean;
  ours.write = ((text: string) => (writes++, write(text))) as typeof ours.write;
  const chat = new SmtpdChat(ours, { softErrorLimit: 1000, errorSleepMs: 0 });
  for (let i = 0; i < 400; i++) await chat.send(reply(250, '2.1.5', 'Ok'));
  assert.ok(writes >= 1, `${writes} writes`);
});
