// The skeleton every daemon runs in: argument parsing, configuration,
// privilege drop, signals, the status channel to master, client counting,
// the max_idle / max_use limits and the daemon_timeout watchdog. A daemon
// hands it its handlers; see INTERNALS.md. Limits: no chroot (Node
// cannot chroot).

import * as net from 'node:net';
import { setAccepting } from '../ipc/listener';
import { stopReading } from '../ipc/scache_proto';
import { Config, ConfigError } from '../config/config';
import { preloadDrivers } from '../tables/dict';
import {
  batchedSink,
  FatalError,
  flushLog,
  initLog,
  msg,
  type LogSink,
} from '../log/log';
import { LogAppender } from '../log/log_appender';
import { mailOwnerIds } from '../util/passwd';
import { ChildToMaster, CHILD_EXIT, MasterToChild } from './master_proto';
import { parseDaemonArgs, DaemonArgs } from './daemon_args';
import { Watchdog } from './watchdog';
import { GIVE_BACK } from './give_back';

export interface DaemonContext {
  config: Config;
  serviceName: string;
  serviceType: string;
  processName: string;
  queueDir: string;
  verbose: number;
  argv: string[]; // arguments after the skeleton's options
  readonly stopping: boolean;
  // Stopping, or retired (max_use, max_idle): a connection kept for more
  // requests should end after the one it serves.
  readonly ending: boolean;
}

export interface DaemonSpec {
  name: string; // process name for the log tag
  kind: 'stream' | 'trigger';
  maxClients?: number; // clients at once; default max_clients_per_process
  resident?: boolean; // ignore max_idle and max_use (qmgr, anvil)
  // Clients that stay connected for long (anvil's smtpd processes): the
  // watchdog then guards only against a stuck event loop, not against a
  // client served for longer than daemon_timeout. Default: resident.
  longClients?: boolean;
  init?(ctx: DaemonContext): Promise<void> | void;
  onConnection?(socket: net.Socket, ctx: DaemonContext): void;
  onTrigger?(bytes: Buffer, ctx: DaemonContext): Promise<void> | void;
  onStop?(ctx: DaemonContext): Promise<void> | void;
}

function send(message: ChildToMaster): void {
  if (process.connected) process.send?.(message);
}

// Drop root for daemons whose master.cf unpriv column says y.
function dropPrivileges(config: Config): void {
  if (process.getuid?.() !== 0) return;
  const { uid, gid } = mailOwnerIds(config.get('mail_owner'));
  process.setgid?.(gid);
  process.setgroups?.([gid]);
  process.setuid?.(uid);
}

class Daemon {
  #spec: DaemonSpec;
  #ctx: DaemonContext;
  #args: DaemonArgs;
  #servers: net.Server[] = [];
  #clients = 0;
  #served = 0;
  #maxClients: number;
  #maxIdle: number;
  #maxUse: number;
  #idleTimer: NodeJS.Timeout | null = null;
  #stopping = false;
  #retired = false;
  #pausedAtCapacity = false;
  #waiting: net.Socket[] = []; // accepted beyond capacity
  #watchdog: Watchdog | null = null;
  #watchClients: boolean;

  constructor(spec: DaemonSpec, args: DaemonArgs, config: Config) {
    this.#spec = spec;
    this.#args = args;
    const self = this;
    this.#ctx = {
      config,
      serviceName: args.serviceName,
      serviceType: args.serviceType,
      processName: spec.name,
      queueDir: config.get('queue_directory'),
      verbose: args.verbose,
      argv: args.rest,
      get stopping() {
        return self.#stopping;
      },
      get ending() {
        return self.#stopping || self.#retired;
      },
    };
    this.#maxClients = spec.maxClients ?? config.int('max_clients_per_process');
    this.#maxIdle = spec.resident
      ? 0
      : (args.maxIdle ?? config.time('max_idle'));
    // One of our processes serves up to maxClients clients at once, where
    // Postfix runs that many processes; each of those would serve max_use
    // clients, so ours retires after max_use times max_clients_per_process.
    // That holds for a daemon held to fewer clients at once (local, one)
    // too: a Node process costs some 200 ms of CPU to start where Postfix's
    // costs one, and local restarting every 100 deliveries was a third of
    // its CPU per message.
    const maxUse = args.maxUse ?? config.int('max_use');
    const slots = config.int('max_clients_per_process');
    this.#maxUse = spec.resident ? 0 : maxUse * slots;
    this.#watchClients = !(spec.longClients ?? spec.resident ?? false);
  }

  get ctx(): DaemonContext {
    return this.#ctx;
  }

  async start(): Promise<void> {
    // Postfix's agents die by themselves when one request takes longer
    // than daemon_timeout; qmgr then defers what they held.
    const timeout = this.#ctx.config.time('daemon_timeout');
    this.#watchdog = new Watchdog(timeout, send);
    await this.#spec.init?.(this.#ctx);
    process.on('message', (m: MasterToChild, handle?: unknown) =>
      this.#onMaster(m, handle),
    );
    process.on('disconnect', () => this.stop());
    this.#armIdle();
    send({ t: 'status', avail: true });
  }

  #onMaster(m: MasterToChild, handle: unknown): void {
    if (m.t === 'listen' && handle instanceof net.Server) this.#listen(handle);
    else if (m.t === 'conn' && handle instanceof net.Socket)
      this.#take(handle, m.id);
    else if (m.t === 'stop') this.stop();
    else if (m.t === 'log-reopen') logFile?.close();
  }

  // Master keeps its copy of the client until it reads 'took', and gives
  // the client to another process if we die first; so we serve it only
  // once 'took' is written, or a crash of ours could leave the client
  // served twice. The slot is counted first, so that master reads that
  // we are full before it reads 'took' and hands us no more.
  #take(socket: net.Socket, id: number | undefined): void {
    if (id === undefined || !process.connected || !process.send) {
      this.#accept(socket);
      return;
    }
    const full = this.#clients >= this.#maxClients;
    if (!full) this.#admit(socket);
    process.send({ t: 'took', id }, undefined, undefined, () => {
      if (full)
        this.#accept(socket); // a slot may be free by now
      else this.#serve(socket);
    });
  }

  #listen(server: net.Server): void {
    if (this.#stopping || this.#retired) {
      server.close();
      return;
    }
    server.on('connection', (socket: net.Socket) => this.#accept(socket));
    server.on('error', (err) => msg.warn(`accept: ${err.message}`));
    server.once('close', () => this.#lostListener(server));
    this.#servers.push(server);
    // Clients handed over by master may have filled us meanwhile.
    if (this.#pausedAtCapacity) setAccepting(server, false);
    send({ t: 'ready' });
  }

  // A listener that closed by itself (ours are taken out first): ask
  // master for it anew, or this process would take no more clients.
  #lostListener(server: net.Server): void {
    const i = this.#servers.indexOf(server);
    if (i < 0) return;
    this.#servers.splice(i, 1);
    if (this.#servers.length || this.#pausedAtCapacity) return;
    if (!this.#stopping && !this.#retired) send({ t: 'want-listen' });
  }

  #accept(socket: net.Socket): void {
    if (this.#clients >= this.#maxClients) {
      this.#giveBack(socket);
      return;
    }
    this.#admit(socket);
    this.#serve(socket);
  }

  // libuv accepts all that waits on a listener in one go, even when the
  // first client fills us and pauses it: the rest go back to master for
  // another process, so that no more than maxClients are served at once
  // (local relies on one, as it switches rights per delivery). Only the
  // handle goes: one with bytes read already (a client from master that
  // came while we filled up) waits here instead, or they would be lost.
  #giveBack(socket: net.Socket): void {
    if (!process.connected || !process.send || socket.readableLength) {
      this.#wait(socket);
      return;
    }
    stopReading(socket as never);
    process.send(GIVE_BACK, socket, { keepOpen: false }, () => undefined);
  }

  // Kept for a free slot of ours.
  #wait(socket: net.Socket): void {
    this.#waiting.push(socket);
    socket.once('close', () => {
      const i = this.#waiting.indexOf(socket);
      if (i >= 0) this.#waiting.splice(i, 1);
    });
  }

  #admit(socket: net.Socket): void {
    if (this.#clients === 0 && this.#served === 0) send({ t: 'served' });
    this.#clients++;
    this.#served++;
    this.#disarmIdle();
    if (this.#watchClients) this.#watchdog?.begin(socket);
    socket.once('close', () => {
      this.#watchdog?.done(socket);
      this.#release();
    });
    if (this.#clients >= this.#maxClients) this.#pauseAccepting();
    if (this.#maxUse && this.#served >= this.#maxUse) this.#retire();
  }

  #serve(socket: net.Socket): void {
    if (this.#spec.kind === 'trigger') this.#readTrigger(socket);
    else this.#spec.onConnection?.(socket, this.#ctx);
  }

  // At capacity: stop polling the listeners but keep them, so that no
  // round trip to master is needed to take clients again; master and
  // the other children poll the socket meanwhile.
  #pauseAccepting(): void {
    if (this.#pausedAtCapacity) return;
    for (const server of this.#servers) setAccepting(server, false);
    this.#pausedAtCapacity = true;
    send({ t: 'status', avail: false });
  }

  // Retired or stopping: give the listeners up for good. Master keeps
  // the socket open, so no client is refused.
  #closeListeners(): void {
    for (const server of this.#servers) server.close();
    this.#servers = [];
  }

  #release(): void {
    this.#clients--;
    const next = this.#waiting.shift();
    if (next) {
      this.#admit(next);
      this.#serve(next);
      return;
    }
    if (this.#stopping || this.#retired) {
      this.#exitWhenIdle();
      return;
    }
    if (this.#pausedAtCapacity && this.#clients < this.#maxClients)
      this.#resumeAccepting();
    this.#armIdle();
  }

  #resumeAccepting(): void {
    this.#pausedAtCapacity = false;
    for (const server of this.#servers) setAccepting(server, true);
    send({ t: 'status', avail: true });
    // None came yet, or one closed while we were full.
    if (!this.#servers.length) send({ t: 'want-listen' });
  }

  #readTrigger(socket: net.Socket): void {
    const chunks: Buffer[] = [];
    const limit = this.#ctx.config.time('trigger_timeout') * 1000;
    socket.setTimeout(limit, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('end', () => {
      socket.end();
      const bytes = Buffer.concat(chunks);
      Promise.resolve(this.#spec.onTrigger?.(bytes, this.#ctx)).catch((err) =>
        msg.warn(`trigger: ${(err as Error).message}`),
      );
    });
  }

  #armIdle(): void {
    this.#disarmIdle();
    if (!this.#maxIdle || this.#clients > 0) return;
    this.#idleTimer = setTimeout(() => this.#retire(), this.#maxIdle * 1000);
    this.#idleTimer.unref();
  }

  #disarmIdle(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }

  // max_use or max_idle: stop taking clients, finish, exit. Master starts
  // a fresh process when the next client comes.
  #retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    send({ t: 'retire' });
    this.#closeListeners();
    this.#exitWhenIdle();
  }

  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#disarmIdle();
    this.#closeListeners();
    this.#exitWhenIdle();
  }

  #exitWhenIdle(): void {
    if (this.#clients > 0) return;
    Promise.resolve(this.#spec.onStop?.(this.#ctx))
      .catch((err) => msg.warn(`stop: ${(err as Error).message}`))
      .finally(() => process.exit(CHILD_EXIT.OK));
  }
}

// Under master, the lines of a turn go to maillog_file through the
// descriptor master gave us, else (none given, or the file was rotated)
// to master over the fork channel. Called once more with the
// configuration, before privileges are dropped: that call takes the
// descriptor.
let logFile: LogAppender | null = null;

function masterSink(config?: Config): LogSink {
  const file = config?.get('maillog_file');
  if (file) logFile = LogAppender.fromEnv(file);
  return batchedSink((lines) => {
    if (logFile?.write(lines.join('\n') + '\n')) return;
    send({ t: 'log', lines });
  });
}

function setUpLog(spec: DaemonSpec, args: DaemonArgs, config?: Config) {
  const sinks = process.send
    ? [masterSink(config)]
    : [(line: string) => void process.stderr.write(line + '\n')];
  initLog({
    processName: spec.name,
    syslogName: config?.get('syslog_name'),
    hostname: config?.get('myhostname'),
    verbose: args.verbose,
    sinks,
    // Let the channel carry the last line before we go.
    onFatal: (code) => setImmediate(() => process.exit(code)),
  });
}

function loadConfig(args: DaemonArgs): Config {
  const base = Config.load({
    configDir: args.configDir,
    processName: args.processName,
    serviceName: args.serviceName,
  });
  return base.withOverrides(args.overrides, args.serviceName);
}

// Entry point of every daemon. Never returns an error to the caller: a
// broken environment is fatal (master restarts and throttles us).
export function runDaemon(spec: DaemonSpec): void {
  const args = parseDaemonArgs(process.argv.slice(2), spec.name);
  setUpLog(spec, args);
  let config: Config;
  try {
    config = loadConfig(args);
    setUpLog(spec, args, config);
    process.chdir(config.get('queue_directory'));
    preloadDrivers(config);
    if (args.unpriv) dropPrivileges(config);
  } catch (err) {
    const text = err instanceof ConfigError ? err.message : String(err);
    msg.fatal(text);
  }
  // Lines of this last turn go before we do, whoever calls exit.
  process.on('exit', flushLog);
  process.on('SIGTERM', () => process.exit(CHILD_EXIT.OK));
  process.on('uncaughtException', (err) => {
    if (err instanceof FatalError) return;
    msg.panic(`uncaught exception: ${err.stack ?? err.message}`);
  });
  process.on('unhandledRejection', (err) => {
    if (err instanceof FatalError) return;
    const text = err instanceof Error ? (err.stack ?? err.message) : err;
    msg.panic(`unhandled rejection: ${text}`);
  });
  const daemon = new Daemon(spec, args, config!);
  daemon.start().catch((err: Error) => {
    if (!(err instanceof FatalError)) msg.fatal(`init: ${err.message}`);
  });
}
