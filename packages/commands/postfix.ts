#!/usr/bin/env node
// postfix(1): start, stop, abort, reload, status, check, set-permissions,
// logrotate, flush and start-fg, with Postfix's messages and exit codes.
// A front end over packages/ and the master daemon; parsed with yargs as
// the brief chose for this one command.

import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Config, ConfigError } from '../config/config';
import { checkConfig } from '../config/check';
import { initLog, msg, postlogSink } from '../log/log';
import { runningMasterPid } from '../daemon/master_pid';
import { checkQueueDirs, makeQueueDirs } from '../daemon/permissions';
import { sendTrigger } from '../ipc/ipc';
import { installSetgidPrograms } from './submit_setgid';

const SCRIPT = 'postfix/postfix-script';
const EX_USAGE = 64;

// How long "postfix stop" waits for master before it says so and kills.
const STOP_WAIT_MS = 40_000;

interface Context {
  configDir?: string;
  verbose: number;
}

function fatal(text: string, code = 1): never {
  process.stderr.write(`postfix: fatal: ${text}\n`);
  process.exit(code);
}

// Loading and checking: any error is "postfix: fatal: <file, line: ...>".
function loadChecked(ctx: Context): Config {
  let config: Config;
  try {
    config = Config.load({ configDir: ctx.configDir, processName: 'postfix' });
    for (const warning of checkConfig(config))
      process.stderr.write(`postfix: warning: ${warning}\n`);
  } catch (err) {
    if (err instanceof ConfigError) fatal(err.message);
    throw err;
  }
  return config;
}

// Script messages go to stderr and, when master runs, to its log.
function setUpScriptLog(config: Config): void {
  initLog({
    processName: 'postfix-script',
    syslogName: config.get('syslog_name'),
    hostname: config.get('myhostname'),
    stderr: SCRIPT,
    sinks: [postlogSink(config.get('queue_directory'))],
  });
}

function queueDir(config: Config): string {
  return config.get('queue_directory');
}

function makeTree(config: Config, fix: boolean): void {
  try {
    makeQueueDirs(config, fix);
  } catch (err) {
    fatal(`${queueDir(config)}: ${(err as Error).message}`);
  }
}

function masterScript(config: Config): string {
  return path.join(config.get('daemon_directory'), 'master', 'master.js');
}

// Start master in the background and wait until it serves (master -w).
function spawnMaster(config: Config): Promise<number> {
  const child = cp.fork(masterScript(config), ['-c', config.configDir], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, MAIL_CONFIG: config.configDir },
    execArgv: [],
  });
  return new Promise((resolve) => {
    child.on('message', (m: { t: string; line?: string }) => {
      if (m.t === 'ready') {
        child.unref();
        child.disconnect();
        resolve(0);
      } else if (m.t === 'log' && m.line) {
        // "Dec 03 10:00:00 host postfix/master[123]: fatal: ..." shown as
        // "postfix/master: fatal: ...".
        process.stderr.write(
          m.line.replace(/^.*? (\S+)\[\d+\]: /, '$1: ') + '\n',
        );
      }
    });
    child.on('exit', () => resolve(1));
  });
}

async function cmdStart(ctx: Context): Promise<number> {
  const config = loadChecked(ctx);
  setUpScriptLog(config);
  if (runningMasterPid(queueDir(config)) !== null) {
    msg.fatal('the Postfix mail system is already running', 1);
  }
  makeTree(config, false);
  msg.info('starting the Postfix mail system');
  const status = await spawnMaster(config);
  if (status !== 0) msg.fatal('mail system startup failed', 1);
  return 0;
}

async function cmdStartFg(ctx: Context): Promise<number> {
  const config = loadChecked(ctx);
  setUpScriptLog(config);
  if (runningMasterPid(queueDir(config)) !== null)
    msg.fatal('the Postfix mail system is already running', 1);
  makeTree(config, false);
  msg.info('starting the Postfix mail system');
  const { Master } = await import('../../services/master/master');
  const master = new Master({ configDir: config.configDir, foreground: true });
  await master.start();
  return new Promise<number>(() => undefined); // master exits the process
}

function requireRunning(config: Config): number {
  const pid = runningMasterPid(queueDir(config));
  if (pid === null)
    return msg.fatal('the Postfix mail system is not running', 1);
  return pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !alive(pid);
}

async function cmdStop(ctx: Context): Promise<number> {
  const config = loadChecked(ctx);
  setUpScriptLog(config);
  const pid = requireRunning(config);
  msg.info('stopping the Postfix mail system');
  process.kill(pid, 'SIGTERM');
  if (await waitGone(pid, 5000)) return 0;
  msg.info('waiting for the Postfix mail system to terminate');
  if (await waitGone(pid, STOP_WAIT_MS)) return 0;
  msg.warn('stopping the Postfix mail system with force');
  process.kill(-pid, 'SIGKILL');
  return 0;
}

async function cmdAbort(ctx: Context): Promise<number> {
  const config = loadChecked(ctx);
  setUpScriptLog(config);
  const pid = requireRunning(config);
  msg.info('aborting the Postfix mail system');
  process.kill(pid, 'SIGINT');
  await waitGone(pid, 5000);
  return 0;
}

async function cmdReload(ctx: Context): Promise<number> {
  const config = loadChecked(ctx);
  setUpScriptLog(config);
  const pid = requireRunning(config);
  msg.info('refreshing the Postfix mail system');
  process.kill(pid, 'SIGHUP');
  return 0;
}

function cmdStatus(ctx: Context): number {
  const config = loadChecked(ctx);
  const pid = runningMasterPid(queueDir(config));
  if (pid === null) {
    process.stderr.write(`${SCRIPT}: the Postfix mail system is not running\n`);
    return 1;
  }
  process.stderr.write(
    `${SCRIPT}: the Postfix mail system is running: PID: ${pid}\n`,
  );
  return 0;
}

function cmdCheck(ctx: Context): number {
  const config = loadChecked(ctx);
  makeTree(config, false);
  for (const warning of checkQueueDirs(config))
    process.stderr.write(`${SCRIPT}: warning: ${warning}\n`);
  return 0;
}

// The tree's owners and modes, then (as root) the setgid postdrop and
// postqueue launchers in $command_directory, as Postfix's postfix-files.
function cmdSetPermissions(ctx: Context): number {
  const config = loadChecked(ctx);
  makeTree(config, true);
  if (process.getuid?.() !== 0) return 0;
  try {
    installSetgidPrograms(config);
  } catch (err) {
    fatal(`set-permissions: ${(err as Error).message}`);
  }
  return 0;
}

// Rename maillog_file with its suffix, have master reopen it, compress
// the old one.
async function cmdLogrotate(ctx: Context): Promise<number> {
  const config = loadChecked(ctx);
  setUpScriptLog(config);
  const file = config.get('maillog_file');
  if (!file || file.startsWith('/dev/'))
    msg.fatal(`logrotate: maillog_file is not a regular file: "${file}"`, 1);
  const rotated = `${file}.${strftime(config.get('maillog_file_rotate_suffix'))}`;
  try {
    fs.renameSync(file, rotated);
  } catch (err) {
    msg.fatal(`rename ${file} to ${rotated}: ${(err as Error).message}`, 1);
  }
  const pid = runningMasterPid(queueDir(config));
  if (pid !== null) process.kill(pid, 'SIGUSR1');
  if (config.get('maillog_file_compressor') === 'gzip') {
    // The last lines written to the old file: master's, and those of
    // daemons that append themselves (they look at the path every 50 ms
    // and master tells them at once).
    await new Promise((r) => setTimeout(r, 1000));
    fs.writeFileSync(`${rotated}.gz`, zlib.gzipSync(fs.readFileSync(rotated)));
    fs.unlinkSync(rotated);
  }
  return 0;
}

function strftime(format: string, when = new Date()): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const map: Record<string, string> = {
    Y: String(when.getFullYear()),
    m: two(when.getMonth() + 1),
    d: two(when.getDate()),
    H: two(when.getHours()),
    M: two(when.getMinutes()),
    S: two(when.getSeconds()),
    '%': '%',
  };
  return format.replace(/%(.)/g, (all, c: string) => map[c] ?? all);
}

async function cmdFlush(ctx: Context): Promise<number> {
  const config = loadChecked(ctx);
  requireRunningQuiet(config);
  await sendTrigger(queueDir(config), 'public', 'qmgr', 'FADI');
  await sendTrigger(queueDir(config), 'public', 'pickup', 'W');
  return 0;
}

function requireRunningQuiet(config: Config): void {
  if (runningMasterPid(queueDir(config)) === null)
    fatal('the Postfix mail system is not running', 1);
}

const COMMANDS: Record<string, (ctx: Context) => number | Promise<number>> = {
  start: cmdStart,
  'start-fg': cmdStartFg,
  stop: cmdStop,
  abort: cmdAbort,
  reload: cmdReload,
  status: cmdStatus,
  check: cmdCheck,
  'set-permissions': cmdSetPermissions,
  logrotate: cmdLogrotate,
  flush: cmdFlush,
};

async function main(): Promise<void> {
  const yargs = (await import('yargs')).default;
  const argv = await yargs(process.argv.slice(2))
    .scriptName('postfix')
    .usage('usage: postfix [-c config_dir] [-Dv] command')
    .option('c', { type: 'string', describe: 'configuration directory' })
    .option('v', { type: 'count', describe: 'verbose logging' })
    .option('D', { type: 'boolean', describe: 'debug (ignored)' })
    .help(false)
    .version(false)
    .strictOptions()
    .fail((text) => {
      process.stderr.write(`postfix: fatal: ${text}\n`);
      process.stderr.write('usage: postfix [-c config_dir] [-Dv] command\n');
      process.exit(EX_USAGE);
    })
    .parse();
  const command = String(argv._[0] ?? '');
  const handler = COMMANDS[command];
  if (!handler) {
    process.stderr.write(`postfix: fatal: unknown command: '${command}'\n`);
    process.exit(EX_USAGE);
  }
  const ctx: Context = { configDir: argv.c, verbose: argv.v ?? 0 };
  const code = await handler(ctx);
  process.exitCode = code;
  // Give the postlog socket a moment to carry the last line.
  setTimeout(() => process.exit(code), 50).unref();
}

main().catch((err: Error) => fatal(err.message));
