// A scripted SMTP/LMTP peer for the smtp client's tests, on TCP port 0:
// each test gives the raw bytes to answer per command (or to leave out a
// CRLF, cut a reply, close, reset) and reads back the commands and the
// messages it received. Not a server for anything else.

import * as net from 'node:net';

// What to do for one command: bytes to write, then optionally end.
export interface Action {
  send?: string | Buffer;
  then?: 'close' | 'reset' | 'hang';
  delayMs?: number; // answer this much later, as a slow server
}

export type Step = string | Action | ((arg: string) => string | Action);

export interface SinkScript {
  greeting?: Step;
  ehlo?: Step; // also LHLO
  helo?: Step;
  mail?: Step;
  rcpt?: Step;
  data?: Step;
  dot?: Step; // the reply to the end of the content
  quit?: Step;
  lmtp?: boolean; // one reply to the dot per accepted recipient
}

export interface Received {
  from: string;
  to: string[];
  data: string; // dot-unstuffed, CRLF line ends as sent
}

const DEFAULTS: Required<Omit<SinkScript, 'lmtp'>> = {
  greeting: '220 sink.example ESMTP\r\n',
  ehlo:
    '250-sink.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n' +
    '250-8BITMIME\r\n250-SMTPUTF8\r\n250-DSN\r\n' +
    '250 ENHANCEDSTATUSCODES\r\n',
  helo: '250 sink.example\r\n',
  mail: '250 2.1.0 Ok\r\n',
  rcpt: '250 2.1.5 Ok\r\n',
  data: '354 End data with <CR><LF>.<CR><LF>\r\n',
  dot: '250 2.0.0 Ok: queued as SINK1\r\n',
  quit: '221 2.0.0 Bye\r\n',
};

type Verb = keyof typeof DEFAULTS;

// One client connection: command lines until DATA, then content lines
// until the dot.
class SinkSession {
  readonly #socket: net.Socket;
  readonly #sink: SmtpSink;
  #buffer = '';
  #inData = false;
  #current: Received = { from: '', to: [], data: '' };

  constructor(socket: net.Socket, sink: SmtpSink) {
    this.#socket = socket;
    this.#sink = sink;
    socket.on('error', () => {});
    socket.on('data', (chunk) => this.#onData(chunk.toString('latin1')));
    this.#act('greeting', '');
  }

  #onData(text: string): void {
    this.#buffer += text;
    let at: number;
    while (
      (at = this.#buffer.indexOf('\r\n')) >= 0 &&
      !this.#socket.destroyed
    ) {
      const line = this.#buffer.slice(0, at);
      this.#buffer = this.#buffer.slice(at + 2);
      if (this.#inData) this.#onContent(line);
      else this.#onCommand(line);
    }
  }

  #onCommand(line: string): void {
    this.#sink.commands.push(line);
    const verb = line.split(/[ :]/)[0].toUpperCase();
    const arg = line.slice(verb.length).trim();
    const handler = COMMANDS[verb];
    if (handler) handler(this, arg);
    else this.write('502 5.5.2 Error: command not recognized\r\n');
  }

  #onContent(line: string): void {
    if (line !== '.') {
      this.#current.data +=
        (line.startsWith('.') ? line.slice(1) : line) + '\r\n';
      return;
    }
    this.#inData = false;
    this.#sink.messages.push(this.#current);
    this.#sink.times.push(Date.now());
    const replies = this.#sink.script.lmtp ? this.#current.to.length : 1;
    for (let i = 0; i < replies; i++)
      this.#act('dot', this.#current.to[i] ?? '');
    this.#current = { from: '', to: [], data: '' };
  }

  mail(arg: string): void {
    this.#sink.enterTransaction(this.#socket);
    this.#current.from = /<([^>]*)>/.exec(arg)?.[1] ?? '';
    this.#act('mail', arg);
  }

  rcpt(arg: string): void {
    const addr = /<([^>]*)>/.exec(arg)?.[1] ?? '';
    const reply = this.#act('rcpt', addr);
    if (reply.startsWith('2')) this.#current.to.push(addr);
  }

  data(): void {
    const reply = this.#act('data', '');
    if (reply.startsWith('3')) this.#inData = true;
  }

  write(text: string | Buffer): void {
    if (!this.#socket.destroyed) this.#socket.write(text);
  }

  // Runs the script's step for a verb; returns the text it sent.
  #act(verb: Verb, arg: string): string {
    const step = this.#sink.script[verb] ?? DEFAULTS[verb];
    const resolved = typeof step === 'function' ? step(arg) : step;
    const action = typeof resolved === 'string' ? { send: resolved } : resolved;
    const run = () => {
      if (verb === 'dot') this.#sink.leaveTransaction(this.#socket);
      if (action.send !== undefined) this.write(action.send);
      if (action.then === 'close') this.#socket.end();
      if (action.then === 'reset') this.#socket.resetAndDestroy();
    };
    if (action.delayMs) setTimeout(run, action.delayMs);
    else run();
    return String(action.send ?? '');
  }

  act(verb: Verb, arg: string): string {
    return this.#act(verb, arg);
  }
}

const COMMANDS: Record<string, (s: SinkSession, arg: string) => void> = {
  EHLO: (s, arg) => s.act('ehlo', arg),
  LHLO: (s, arg) => s.act('ehlo', arg),
  HELO: (s, arg) => s.act('helo', arg),
  MAIL: (s, arg) => s.mail(arg),
  RCPT: (s, arg) => s.rcpt(arg),
  DATA: (s) => s.data(),
  RSET: (s) => s.write('250 2.0.0 Ok\r\n'),
  NOOP: (s) => s.write('250 2.0.0 Ok\r\n'),
  QUIT: (s, arg) => {
    s.act('quit', arg);
  },
};

export class SmtpSink {
  readonly script: SinkScript;
  readonly commands: string[] = [];
  readonly messages: Received[] = [];
  connections = 0; // accepted so far
  maxOpen = 0; // the most connections open at once
  readonly openAtAccept: number[] = []; // per connection: open with it
  readonly #busy = new Set<net.Socket>(); // between MAIL and the dot's reply
  maxBusy = 0; // the most transactions at once
  readonly times: number[] = []; // when each message was received
  readonly #server = net.createServer((socket) => {
    this.connections++;
    this.#sockets.add(socket);
    this.maxOpen = Math.max(this.maxOpen, this.#sockets.size);
    this.openAtAccept.push(this.#sockets.size);
    socket.on('close', () => {
      this.#sockets.delete(socket);
      this.#busy.delete(socket);
    });
    new SinkSession(socket, this);
  });
  readonly #sockets = new Set<net.Socket>();
  port = 0;

  constructor(script: SinkScript = {}) {
    this.script = script;
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) =>
      this.#server.listen(0, '127.0.0.1', resolve),
    );
    this.port = (this.#server.address() as net.AddressInfo).port;
    return this.port;
  }

  enterTransaction(socket: net.Socket): void {
    this.#busy.add(socket);
    this.maxBusy = Math.max(this.maxBusy, this.#busy.size);
  }

  leaveTransaction(socket: net.Socket): void {
    this.#busy.delete(socket);
  }

  // Drops every open connection, as a peer that restarts.
  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  get openConnections(): number {
    return this.#sockets.size;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

export async function startSink(script: SinkScript = {}): Promise<SmtpSink> {
  const sink = new SmtpSink(script);
  await sink.listen();
  return sink;
}
