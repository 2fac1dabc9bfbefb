// sendmail -bs: smtpd's session code in this process, on stdin/stdout
// joined to a loopback TCP pair (so the client is localhost[127.0.0.1]).
// The user may not reach public/cleanup, so a cleanup stand-in in a
// private folder hands each message to postdrop, as Postfix's
// stand-alone smtpd does. Used by sendmail.ts.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { PassThrough, type Writable } from 'node:stream';
import { Config } from '../config/config';
import { AttrStream, encodeAttrs } from '../ipc/attr';
import { canDropDirectly, dropMessage } from './submit_drop';
import { CLEANUP_STAT } from '../ipc/cleanup_client';
import { REC, encodeRecord } from '../queue/record';
import { parseReplies, programPath, spawnProgram } from './submit_postdrop';
import { prepareSmtpd } from '../../services/smtpd/smtpd_service';
import { handleConnection } from '../../services/smtpd/smtpd_proto';
import { CommandExit, EX } from './submit_exit';

// What postdrop accepts (Postfix's rec_type.h), per segment.
const POSTDROP_TYPES = {
  envelope: 'MCFSRVAin',
  content: 'XLN',
  extracted: 'EAR',
};
const USER_ATTRS = /^(envelope_id|ret_flags|notify_flags|dsn_orig_rcpt)=/;

type Segment = keyof typeof POSTDROP_TYPES;

function keep(segment: Segment, type: string, data: Buffer): boolean {
  if (!POSTDROP_TYPES[segment].includes(type)) return false;
  return type !== REC.ATTR || USER_ATTRS.test(data.toString('utf8'));
}

// postdrop's answers as they arrive: queue_id first, status last.
class PostdropReplies {
  #out: Buffer[] = [];
  #ended = false;
  #waiters: Array<() => void> = [];

  push(chunk: Buffer): void {
    this.#out.push(chunk);
    this.#wake();
  }

  end(): void {
    this.#ended = true;
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  // The named answer, or undefined when postdrop ended without it.
  async get(name: string): Promise<string | undefined> {
    for (;;) {
      const value = parseReplies(Buffer.concat(this.#out))[name];
      if (value !== undefined || this.#ended) return value;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

// One message from smtpd: greet with postdrop's queue ID, copy records
// until E, answer with postdrop's verdict in cleanup's words. As root
// the drop happens here, without a postdrop process.
async function serveCleanup(config: Config, socket: net.Socket): Promise<void> {
  const stream = new AttrStream(socket);
  const drop = canDropDirectly(config)
    ? dropHere(config)
    : dropThroughPostdrop(config);
  const queueId = await drop.replies.get('queue_id');
  stream.writeAttrs({
    protocol: 'cleanup_protocol',
    queue_id: queueId ?? 'NOQUEUE',
  });
  try {
    await copyToPostdrop(stream, drop.input);
  } catch {
    drop.input.destroy();
    return;
  }
  const ok = (await drop.replies.get('status')) === '0';
  stream.writeAttrs(
    ok
      ? { status: 0, reason: '' }
      : { status: CLEANUP_STAT.WRITE, reason: 'queue file write error' },
  );
}

interface Drop {
  input: Writable;
  replies: PostdropReplies;
}

function dropThroughPostdrop(config: Config): Drop {
  const where = programPath(
    config.get('command_directory'),
    'postdrop',
    config.configDir,
  );
  const child = spawnProgram(where, ['-r'], 'pipe');
  child.stdin!.on('error', () => undefined);
  const replies = new PostdropReplies();
  child.stdout!.on('data', (c: Buffer) => replies.push(c));
  child.on('close', () => replies.end());
  return { input: child.stdin!, replies };
}

function dropHere(config: Config): Drop {
  const input = new PassThrough();
  const replies = new PostdropReplies();
  dropMessage(config, input, (a) => replies.push(encodeAttrs(a)))
    .catch(() => undefined)
    .finally(() => replies.end());
  return { input, replies };
}

async function copyToPostdrop(
  stream: AttrStream,
  sink: NodeJS.WritableStream,
): Promise<void> {
  await stream.readAttrs(); // flags: postdrop and pickup decide for us
  let segment: Segment = 'envelope';
  for (;;) {
    const rec = await stream.readRecord();
    const wanted = keep(segment, rec.type, rec.data);
    if (rec.type === REC.MESG) segment = 'content';
    if (rec.type === REC.XTRA) segment = 'extracted';
    if (wanted && !sink.write(encodeRecord(rec.type, rec.data)))
      await once(sink, 'drain');
    if (rec.type === REC.END) return void sink.end();
  }
}

function listen(server: net.Server, where: string | number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if (typeof where === 'string') server.listen(where, resolve);
    else server.listen(where, '127.0.0.1', resolve);
  });
}

// stdin -> client end, client end -> stdout; the server end is smtpd's.
async function loopbackPair(): Promise<{
  server: net.Server;
  inner: net.Socket;
  outer: net.Socket;
}> {
  const server = net.createServer();
  await listen(server, 0);
  const port = (server.address() as net.AddressInfo).port;
  const accepted = once(server, 'connection');
  const outer = net.connect(port, '127.0.0.1');
  const [inner] = (await accepted) as [net.Socket];
  return { server, inner, outer };
}

// A program on the other end of a pipe cannot see our greeting before it
// writes, so stand-alone mode does not count that as pipelining.
function standAlone(config: Config): Config {
  return Config.load({
    configDir: config.configDir,
    processName: 'sendmail',
    overrides: { smtpd_forbid_unauth_pipelining: 'no' },
  });
}

function prepare(config: Config, dir: string) {
  try {
    return prepareSmtpd(standAlone(config), dir);
  } catch (err) {
    throw new CommandExit(EX.CONFIG, (err as Error).message);
  }
}

// One session on stdin/stdout; returns when smtpd has closed it and its
// last reply has reached standard output.
async function serveStdio(config: Config, dir: string): Promise<void> {
  const service = prepare(config, dir);
  const pair = await loopbackPair();
  process.stdin.pipe(pair.outer);
  pair.outer.pipe(process.stdout);
  const drained = once(pair.outer, 'close');
  await handleConnection(pair.inner, service.settings, service.check);
  await drained;
  process.stdin.unpipe(pair.outer);
  process.stdin.destroy();
  pair.server.close();
}

export async function runSmtpOnStdio(config: Config): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sendmail-bs-'));
  const cleanup = net.createServer(
    (s) => void serveCleanup(config, s).catch(() => s.destroy()),
  );
  try {
    fs.mkdirSync(path.join(dir, 'public'));
    await listen(cleanup, path.join(dir, 'public', 'cleanup'));
    await serveStdio(config, dir);
    return EX.OK;
  } finally {
    cleanup.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
