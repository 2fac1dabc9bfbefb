// The master daemon: reads main.cf and master.cf, owns every listening
// socket, runs each service's children on demand, restarts and throttles
// them, writes the log, and obeys SIGHUP (reload), SIGTERM (stop: drain)
// and SIGINT (abort). Started by "postfix start" or "postfix start-fg".

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Config, ConfigError } from '../../packages/config/config';
import { checkConfig, loadMasterCf } from '../../packages/config/check';
import { commandPath, type MasterEntry } from '../../packages/config/master_cf';
import { initLog, msg } from '../../packages/log/log';
import { mailOwnerIds } from '../../packages/util/passwd';
import { LogWriter, servePostlog } from './master_log';
import { MasterService, serviceKey, type ServiceEnv } from './master_service';
import {
  acquirePidLock,
  releasePidLock,
  type PidLock,
} from '../../packages/daemon/master_pid';

// How long "postfix stop" lets children finish their sessions before
// master kills them.
// XXX a fixed time: Postfix has no parameter for it (its stop gives 5 s
// and then kills); ours waits longer so that sessions can finish.
const STOP_DRAIN_MS = 30_000;

export interface MasterOptions {
  configDir?: string;
  foreground: boolean; // start-fg: log to standard output
  onReady?: () => void;
  onFatal?: (text: string) => void;
}

export class Master {
  #options: MasterOptions;
  #config!: Config;
  #log!: LogWriter;
  #services = new Map<string, MasterService>();
  #postlog: import('node:net').Server | null = null;
  #pidLock: PidLock | null = null;
  #stopping = false;

  constructor(options: MasterOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    this.#config = Config.load({
      configDir: this.#options.configDir,
      processName: 'master',
    });
    this.#setUpLog();
    for (const warning of checkConfig(this.#config)) msg.warn(warning);
    const queueDir = this.#config.get('queue_directory');
    process.chdir(queueDir);
    this.#pidLock = acquirePidLock(queueDir);
    this.#openPostlog(queueDir);
    const entries = this.#readEntries();
    for (const entry of entries) await this.#addService(entry);
    this.#handleSignals();
    msg.info(
      `daemon started -- version ${this.#config.get('mail_version')}, ` +
        `configuration ${this.#config.configDir}`,
    );
    this.#options.onReady?.();
  }

  #setUpLog(): void {
    this.#log?.close();
    this.#log = new LogWriter(
      this.#config.get('maillog_file'),
      this.#options.foreground,
    );
    initLog({
      processName: 'master',
      syslogName: this.#config.get('syslog_name'),
      hostname: this.#config.get('myhostname'),
      sinks: [(line) => this.#log.write(line), toStarter],
      onFatal: (code) => {
        this.#log.flush();
        // "postfix start" waits on the fork channel: let it carry the
        // reason before we go.
        if (process.connected)
          process.send!({ t: 'exit' }, () => process.exit(code));
        else process.exit(code);
      },
    });
  }

  // postlog is served by master itself: it is the one writer.
  #openPostlog(queueDir: string): void {
    const file = path.join(queueDir, 'public', 'postlog');
    fs.rmSync(file, { force: true });
    this.#postlog = servePostlog(file, this.#log);
    this.#postlog.on('listening', () => fs.chmodSync(file, 0o666));
  }

  #readEntries(): MasterEntry[] {
    const { entries } = loadMasterCf(this.#config, (text) => msg.warn(text));
    return entries.filter((e) => e.command !== 'postlogd');
  }

  #serviceEnv(entry: MasterEntry): ServiceEnv {
    const config = this.#config.withOverrides(entry.overrides, entry.name);
    let owner: { uid: number; gid: number } | null = null;
    if (process.getuid?.() === 0)
      owner = mailOwnerIds(this.#config.get('mail_owner'));
    return {
      config,
      configDir: this.#config.configDir,
      script: commandPath(this.#config.get('daemon_directory'), entry.command),
      owner,
      writeLog: (line) => this.#log.write(line),
    };
  }

  async #addService(entry: MasterEntry): Promise<void> {
    const service = new MasterService(entry, this.#serviceEnv(entry));
    try {
      await service.open();
    } catch (err) {
      msg.fatal(`bind ${entry.name}/${entry.type}: ${(err as Error).message}`);
    }
    this.#services.set(service.key, service);
  }

  #handleSignals(): void {
    process.on('SIGHUP', () => void this.reload());
    process.on('SIGTERM', () => this.stop(15));
    process.on('SIGINT', () => this.abort(2));
    process.on('SIGUSR1', () => this.#log.reopen());
    process.on('SIGPIPE', () => undefined);
  }

  // Reread both files; keep sockets whose address did not change; the
  // old children finish and a new generation takes new clients.
  async reload(): Promise<void> {
    if (this.#stopping) return;
    let config: Config;
    let entries: MasterEntry[];
    try {
      config = Config.load({
        configDir: this.#config.configDir,
        processName: 'master',
      });
      for (const warning of checkConfig(config)) msg.warn(warning);
      this.#config = config;
      entries = this.#readEntries();
    } catch (err) {
      const text = err instanceof ConfigError ? err.message : String(err);
      msg.warn(`reload: ${text}: keeping the old configuration`);
      return;
    }
    this.#setUpLog();
    msg.info(
      `reload -- version ${config.get('mail_version')}, ` +
        `configuration ${config.configDir}`,
    );
    await this.#applyEntries(entries);
  }

  async #applyEntries(entries: MasterEntry[]): Promise<void> {
    const wanted = new Map(entries.map((e) => [serviceKey(e), e]));
    for (const [key, service] of this.#services) {
      const entry = wanted.get(key);
      if (entry && service.sameListeners(entry, this.#serviceEnv(entry).config))
        continue;
      service.kill('SIGTERM');
      this.#services.delete(key);
    }
    for (const [key, entry] of wanted) {
      const service = this.#services.get(key);
      if (service) service.refresh(entry, this.#serviceEnv(entry));
      else await this.#addService(entry);
    }
  }

  stop(signal: number): void {
    if (this.#stopping) return;
    this.#stopping = true;
    msg.info(`terminating on signal ${signal}`);
    for (const service of this.#services.values()) service.stop();
    const deadline = Date.now() + STOP_DRAIN_MS;
    const poll = setInterval(() => {
      const left = [...this.#services.values()].reduce(
        (n, s) => n + s.childCount,
        0,
      );
      if (left > 0 && Date.now() < deadline) return;
      clearInterval(poll);
      for (const service of this.#services.values()) service.kill('SIGKILL');
      this.#exit(0);
    }, 100);
  }

  abort(signal: number): void {
    this.#stopping = true;
    msg.info(`terminating on signal ${signal}`);
    for (const service of this.#services.values()) service.kill('SIGTERM');
    setTimeout(() => this.#exit(0), 200);
  }

  #exit(code: number): void {
    this.#postlog?.close();
    if (this.#pidLock) releasePidLock(this.#pidLock);
    this.#log.flush();
    process.exit(code);
  }
}

// Until master serves, "postfix start" shows its warnings and errors.
function toStarter(line: string): void {
  if (process.connected && /\]: (warning|error|fatal|panic): /.test(line))
    process.send!({ t: 'log', line });
}

function parseMasterArgs(argv: string[]): MasterOptions {
  const options: MasterOptions = { foreground: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-c') options.configDir = argv[++i];
    else if (argv[i] === '-s' || argv[i] === '-i') options.foreground = true;
  }
  return options;
}

// As a program: "node master.js [-c dir] [-s]". When started by "postfix
// start" over a fork channel, tell the parent when we serve, then cut it.
function main(): void {
  const options = parseMasterArgs(process.argv.slice(2));
  const master = new Master({
    ...options,
    onReady: () => {
      if (process.send) {
        process.send({ t: 'ready' });
        process.disconnect();
      }
    },
  });
  master.start().catch((err: Error) => msg.fatal(err.message));
}

if (require.main === module) main();
