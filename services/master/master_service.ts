// One master.cf service as master runs it: its listeners, its children
// and their available/busy state, spawning on demand up to maxproc,
// restarting and throttling, the wakeup timer, and graceful replacement
// on reload. Master (master.ts) holds one of these per service line.

import * as cp from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import { msg } from '../../packages/log/log';
import { sendTrigger } from '../../packages/ipc/ipc';
import type { MasterEntry } from '../../packages/config/master_cf';
import type {
  ChildToMaster,
  MasterToChild,
} from '../../packages/daemon/master_proto';
import {
  closeListener,
  listenAddresses,
  openListener,
  setAccepting,
  type ListenAddress,
} from './master_listen';
import type { Config } from '../../packages/config/config';
import { childLogOptions } from './master_log';
import { relayChild } from './master_relay';
import { afterChannelEnd, HandOff, onGiveBack } from './master_handoff';
import { MasterWatchdog } from './master_watchdog';

export interface ServiceEnv {
  config: Config;
  configDir: string;
  script: string; // the daemon's entry file
  owner: { uid: number; gid: number } | null; // for unix sockets
  writeLog(line: string): void;
}

interface Child {
  proc: cp.ChildProcess;
  pid: number;
  generation: number;
  up: boolean; // sent its first status: ready for messages
  avail: boolean;
  served: boolean;
  retired: boolean;
  draining: boolean;
  // Clients sent that the child has not said it took; a child that dies
  // leaves them to us.
  handing: HandOff;
}

// A warning about the process limit at most this often, as Postfix.
const LIMIT_WARN_INTERVAL = 1000 * 1000;

// A child that keeps root (master.cf unpriv "n": local, pipe) switches
// rights with seteuid per delivery, and glibc applies each switch to every
// thread by signal. Measured here (gVisor): a switch there and back costs
// 0.94 ms with Node's 11 threads, 0.40 ms with 5 (local now has 4: it no
// longer starts a thread-pool thread). Such a child serves one client at
// a time, so one worker thread of each kind is enough.
const LEAN_THREADS: { env?: Record<string, string>; execArgv?: string[] } = {
  env: { UV_THREADPOOL_SIZE: '1' },
  execArgv: ['--v8-pool-size=1'],
};

export function serviceKey(entry: MasterEntry): string {
  return `${entry.name}/${entry.type}`;
}

export class MasterService {
  entry: MasterEntry;
  #env: ServiceEnv;
  #addresses: ListenAddress[] = [];
  #servers: net.Server[] = [];
  #children = new Map<number, Child>();
  #pending: net.Socket[] = [];
  #generation = 0;
  #throttledUntil = 0;
  #throttleTimer: NodeJS.Timeout | null = null;
  #wakeupTimer: NodeJS.Timeout | null = null;
  #limitWarned = 0;
  #used = false;
  #closed = false;
  #accepting = true;
  #watchdog = new MasterWatchdog(() => this.#env.script);

  constructor(entry: MasterEntry, env: ServiceEnv) {
    this.entry = entry;
    this.#env = env;
  }

  get key(): string {
    return serviceKey(this.entry);
  }

  get childCount(): number {
    return this.#children.size;
  }

  get pids(): number[] {
    return [...this.#children.keys()];
  }

  async open(): Promise<void> {
    this.#addresses = listenAddresses(this.entry, this.#env.config);
    for (const addr of this.#addresses) {
      const server = await openListener(addr, this.#env.owner);
      server.on('connection', (socket) => this.#onClient(socket));
      server.on('error', (err) =>
        msg.warn(`${this.key}: accept: ${err.message}`),
      );
      this.#servers.push(server);
    }
    this.#startWakeup();
  }

  // Same listen addresses: a reload can keep the sockets.
  sameListeners(entry: MasterEntry, config: Config): boolean {
    const next = listenAddresses(entry, config).map((a) => a.label);
    const now = this.#addresses.map((a) => a.label);
    return next.length === now.length && next.every((l, i) => l === now[i]);
  }

  // Reload: new settings, same sockets. Children of the old generation
  // finish their clients and exit; new clients go to a new generation.
  refresh(entry: MasterEntry, env: ServiceEnv): void {
    this.entry = entry;
    this.#env = env;
    this.#generation++;
    for (const child of this.#children.values()) this.#drain(child);
    this.#stopWakeup();
    this.#startWakeup();
    this.#dispatch();
  }

  #onClient(socket: net.Socket): void {
    socket.on('error', () => undefined);
    this.#pending.push(socket);
    this.#dispatch();
  }

  // Hand waiting clients to available children; start more when none.
  #dispatch(): void {
    this.#pending = this.#pending.filter((s) => !s.destroyed);
    while (this.#pending.length) {
      const child = this.#handOffTarget();
      if (!child) break;
      const socket = this.#pending.shift()!;
      this.#sendToChild(child, { t: 'conn' }, socket);
    }
    if (this.#pending.length && !this.#availableChild()) this.#spawnIfAllowed();
    this.#acceptWhenNoChildCan();
  }

  // A child that is up, not at capacity and holds the listener accepts
  // its clients itself; master polls the socket only while there is no
  // such child, so that it learns a new process is needed. A client that
  // arrives while a child starts waits in the kernel's backlog.
  #acceptWhenNoChildCan(): void {
    const on = !this.#availableChild();
    if (on === this.#accepting || this.#closed) return;
    this.#accepting = on;
    for (const server of this.#servers) setAccepting(server, on);
  }

  #availableChild(): Child | undefined {
    for (const child of this.#children.values())
      if (this.#usable(child) && child.avail) return child;
    return undefined;
  }

  // One hand-off at a time per child: the child says it is full before
  // it says 'took', so that master never sends it more than it can take.
  #handOffTarget(): Child | undefined {
    for (const child of this.#children.values())
      if (this.#usable(child) && child.avail && !child.handing.busy)
        return child;
    return undefined;
  }

  #usable(child: Child): boolean {
    return (
      child.up &&
      child.proc.connected &&
      !child.retired &&
      !child.draining &&
      child.generation === this.#generation
    );
  }

  #spawnIfAllowed(): void {
    if (this.#closed) return;
    if (Date.now() < this.#throttledUntil) return;
    // One is starting: it takes the clients when it is up.
    if ([...this.#children.values()].some((c) => !c.up && !c.draining)) return;
    const live = [...this.#children.values()].filter((c) => !c.draining);
    const max = this.entry.maxproc;
    if (max > 0 && live.length >= max) {
      this.#warnLimit(max);
      return;
    }
    this.#spawn();
  }

  #warnLimit(max: number): void {
    if (this.entry.type !== 'inet' || max <= 1) return;
    if (Date.now() - this.#limitWarned < LIMIT_WARN_INTERVAL) return;
    this.#limitWarned = Date.now();
    msg.warn(
      `service "${this.entry.name}" (${this.#addresses[0]?.label}) has ` +
        `reached its process limit "${max}": new clients may experience ` +
        `noticeable delays`,
    );
  }

  #childArgs(): string[] {
    const e = this.entry;
    const args = ['-n', e.name, '-t', e.type, '-c', this.#env.configDir];
    if (e.unpriv) args.push('-u');
    for (const [name, value] of Object.entries(e.overrides))
      args.push('-o', `${name}=${value}`);
    return [...args, ...e.args];
  }

  #spawn(): void {
    const lean = this.entry.unpriv ? {} : LEAN_THREADS;
    const log = childLogOptions();
    const proc = cp.fork(this.#env.script, this.#childArgs(), {
      env: {
        ...process.env,
        MAIL_CONFIG: this.#env.configDir,
        ...lean.env,
        ...log.env,
      },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc', ...log.stdio],
      execArgv: lean.execArgv ?? [],
      serialization: 'json',
    });
    log.track(proc);
    if (!proc.pid) {
      msg.warn(`${this.#env.script}: fork failed -- throttling`);
      this.#throttle();
      return;
    }
    const child: Child = {
      proc,
      pid: proc.pid,
      generation: this.#generation,
      up: false,
      avail: false,
      served: false,
      retired: false,
      draining: false,
      handing: new HandOff(proc),
    };
    this.#children.set(child.pid, child);
    proc.on('message', (m: ChildToMaster) => this.#onChildMessage(child, m));
    onGiveBack(proc, (socket) => this.#onClient(socket));
    relayChild(proc, this.entry, this.#env.config); // scache requests
    proc.on('exit', (code, signal) =>
      afterChannelEnd(proc, () => this.#onExit(child, code, signal)),
    );
    proc.on('error', (err) => msg.warn(`${this.key}: ${err.message}`));
    this.#captureStderr(child);
  }

  // A daemon's stray output (a Node warning, a crash before logging was
  // set up) goes to the log rather than nowhere.
  #captureStderr(child: Child): void {
    let rest = '';
    child.proc.stderr?.setEncoding('utf8');
    child.proc.stderr?.on('data', (text: string) => {
      const lines = (rest + text).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines)
        if (line.trim())
          msg.warn(
            `${this.entry.command}[${child.pid}]: ${line.slice(0, 500)}`,
          );
    });
  }

  #onChildMessage(child: Child, m: ChildToMaster): void {
    switch (m.t) {
      case 'log':
        this.#writeLog(m);
        return;
      case 'beat':
        this.#watchdog.beat(child.proc, m.within);
        return;
      case 'status':
        if (!child.up) this.#childUp(child);
        child.avail = m.avail;
        break;
      case 'served':
        child.served = true;
        this.#markUsed();
        break;
      case 'want-listen':
        if (this.#usable(child)) this.#sendListeners(child);
        break;
      case 'retire':
        child.retired = true;
        break;
      case 'took':
        child.handing.took(m.id);
        break;
      case 'ready':
        break;
    }
    this.#dispatch();
  }

  #writeLog(m: { lines?: string[]; line?: string }): void {
    if (typeof m.line === 'string') this.#env.writeLog(m.line);
    if (!Array.isArray(m.lines)) return;
    for (const line of m.lines)
      if (typeof line === 'string') this.#env.writeLog(line);
  }

  #childUp(child: Child): void {
    child.up = true;
    if (this.#usable(child)) this.#sendListeners(child);
    else this.#send(child, { t: 'stop' });
  }

  #sendListeners(child: Child): void {
    for (const server of this.#servers)
      this.#sendToChild(child, { t: 'listen' }, server);
  }

  #send(child: Child, m: MasterToChild): void {
    if (child.proc.connected) child.proc.send(m, () => undefined);
  }

  #sendToChild(
    child: Child,
    m: MasterToChild,
    handle: net.Server | net.Socket,
  ) {
    if (!child.proc.connected) {
      this.#refused(child, handle);
      return;
    }
    if (handle instanceof net.Server)
      child.proc.send(m, handle, () => undefined);
    else child.handing.send(handle, (socket) => this.#refused(child, socket));
  }

  // Dead, its exit not seen yet: take it out of the choice, or the
  // dispatch loop would pick it for ever and block the event loop.
  #refused(child: Child, handle: net.Server | net.Socket): void {
    child.avail = false;
    child.retired = true;
    if (!(handle instanceof net.Socket)) return;
    this.#pending.unshift(handle);
    setImmediate(() => this.#dispatch());
  }

  #drain(child: Child): void {
    if (child.draining) return;
    child.draining = true;
    this.#send(child, { t: 'stop' });
  }

  #onExit(child: Child, code: number | null, signal: string | null): void {
    this.#children.delete(child.pid);
    this.#watchdog.forget(child.pid);
    this.#reclaimClients(child);
    const script = this.#env.script;
    if (signal)
      msg.warn(
        `process ${script} pid ${child.pid} killed by signal ${signalNumber(signal)}`,
      );
    else if (code)
      msg.warn(`process ${script} pid ${child.pid} exit status ${code}`);
    const abnormal = Boolean(signal) || Boolean(code);
    // A child that dies before taking its first client is broken, not
    // unlucky: stop spawning for a while rather than loop.
    if (abnormal && !child.served && !child.draining && !this.#closed) {
      msg.warn(`${script}: bad command startup -- throttling`);
      this.#throttle();
    }
    this.#dispatch();
  }

  // The clients a dead child never took are whole in master (it kept
  // its copy) and go to another child, before the ones that came later.
  #reclaimClients(child: Child): void {
    const left = child.handing.reclaim();
    if (this.#closed) for (const socket of left) socket.destroy();
    else this.#pending.unshift(...left);
  }

  #throttle(): void {
    const delay = this.#env.config.time('service_throttle_time') * 1000;
    this.#throttledUntil = Date.now() + delay;
    if (this.#throttleTimer) clearTimeout(this.#throttleTimer);
    this.#throttleTimer = setTimeout(() => {
      this.#throttleTimer = null;
      // The timer may fire a little before the wall clock says the time
      // is up, and the spawn must not then be refused with no timer left.
      this.#throttledUntil = 0;
      this.#dispatch();
    }, delay);
  }

  #markUsed(): void {
    if (this.#used) return;
    this.#used = true;
    if (this.entry.wakeupConditional) this.#startWakeup();
  }

  // master.cf's wakeup column: a 'W' trigger every N seconds, the first
  // at once (so qmgr and pickup start and scan after a restart), or only
  // after first use for "N?".
  #startWakeup(): void {
    const seconds = this.entry.wakeup;
    if (!seconds || this.entry.type === 'inet' || this.#wakeupTimer) return;
    if (this.entry.wakeupConditional && !this.#used) return;
    const path = this.#addresses[0]?.path;
    if (!path) return;
    const fire = () => {
      const klass = this.entry.private ? 'private' : 'public';
      void sendTrigger(
        this.#env.config.get('queue_directory'),
        klass,
        this.entry.name,
        'W',
      );
    };
    if (!this.entry.wakeupConditional) setImmediate(fire);
    this.#wakeupTimer = setInterval(fire, seconds * 1000);
  }

  #stopWakeup(): void {
    if (this.#wakeupTimer) clearInterval(this.#wakeupTimer);
    this.#wakeupTimer = null;
  }

  // postfix stop: no new clients; children finish theirs.
  stop(): void {
    this.#closeListeners();
    for (const child of this.#children.values()) this.#drain(child);
  }

  // postfix abort, or a service removed from master.cf at reload.
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.#closeListeners();
    for (const child of this.#children.values()) child.proc.kill(signal);
  }

  #closeListeners(): void {
    this.#closed = true;
    this.#stopWakeup();
    if (this.#throttleTimer) clearTimeout(this.#throttleTimer);
    for (const server of this.#servers) closeListener(server);
    this.#servers = [];
    for (const socket of this.#pending) socket.destroy();
    this.#pending = [];
  }
}

function signalNumber(name: string): number {
  return os.constants.signals[name as NodeJS.Signals] ?? 0;
}
