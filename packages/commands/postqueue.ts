#!/usr/bin/env node
// postqueue(1): the user's queue control. -p and -j list the queue
// through the showq service (or, as root or mail_owner with the mail
// system down, by reading the queue directly); -f wakes qmgr and pickup;
// -s and -i ask the flush service. Runs setgid postdrop through the
// launcher. Limits: the flush(8) service (issue 5) may be absent.

import { startCommand } from './sendmail_startup';
import * as fs from 'node:fs';
import { Config, ConfigError } from '../config/config';
import { initLog, msg, postlogSink } from '../log/log';
import { connectService, sendTrigger, servicePath } from '../ipc/ipc';
import { getpwnam } from '../util/passwd';
import { getopt, GetoptError } from '../util/getopt';
import { CommandExit, EX } from './submit_exit';
import { requireAuthorized } from './submit_authorized';
import { formatJson, writeMailq } from './showq_format';
import { readEntries } from '../../services/showq/showq_proto';
import { listQueue, type ShowqEntry } from '../../services/showq/showq_queue';

const USAGE =
  'usage: postqueue -f | postqueue -i queueid | postqueue -j | postqueue -p | postqueue -s site';

interface Request {
  action: 'p' | 'j' | 'f' | 's' | 'i';
  value: string;
  configDir?: string;
  verbose: number;
}

function parseArgs(argv: string[]): Request {
  let parsed;
  try {
    parsed = getopt(argv, 'c:fi:jps:v');
  } catch (err) {
    if (err instanceof GetoptError) throw new CommandExit(EX.USAGE, USAGE);
    throw err;
  }
  const req: Request = { action: 'p', value: '', verbose: 0 };
  let actions = 0;
  for (const { name, value } of parsed.options) {
    if (name === 'c')
      req.configDir ??= value; // the launcher's comes first
    else if (name === 'v') req.verbose++;
    else {
      actions++;
      req.action = name as Request['action'];
      req.value = value;
    }
  }
  if (actions !== 1 || parsed.operands.length > 0)
    throw new CommandExit(EX.USAGE, USAGE);
  return req;
}

// Postfix prints strerror(); connect errors here carry the errno name.
const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  ECONNREFUSED: 'Connection refused',
  EACCES: 'Permission denied',
};

function strerror(text: string): string {
  const code = /\b(E[A-Z]+)\b/.exec(text)?.[1];
  return (code && STRERROR[code]) || text;
}

function privileged(config: Config): boolean {
  const uid = process.getuid?.() ?? 0;
  return uid === 0 || getpwnam(config.get('mail_owner'))?.uid === uid;
}

async function entries(config: Config): Promise<AsyncIterable<ShowqEntry>> {
  const queueDir = config.get('queue_directory');
  try {
    const stream = await connectService(queueDir, 'public', 'showq', 10_000);
    return readEntries(stream);
  } catch (err) {
    if (!privileged(config))
      throw new CommandExit(
        EX.UNAVAILABLE,
        'Queue report unavailable - mail system is down',
      );
    msg.warn(
      `Mail system is down -- accessing queue directly (Connect to the Postfix showq service: ${strerror((err as Error).message)})`,
    );
    return listQueue(queueDir, config);
  }
}

// A reader that went away (mailq | head) ends the listing, as SIGPIPE
// ends Postfix's postqueue: no stack trace.
function quitOnClosedOutput(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(EX.IOERR);
  });
}

async function showQueue(config: Config, json: boolean): Promise<number> {
  quitOnClosedOutput();
  const list = await entries(config);
  const write = (s: string) => void process.stdout.write(s);
  if (json) for await (const e of list) write(formatJson(e));
  else await writeMailq(list, config.bool('enable_long_queue_ids'), write);
  return EX.OK;
}

// As Postfix: qmgr forgets dead destinations (F), ignores deferred time
// stamps (A), scans deferred (D) and incoming (I); pickup scans maildrop.
async function flushQueue(config: Config): Promise<number> {
  const queueDir = config.get('queue_directory');
  const woke = await sendTrigger(queueDir, 'public', 'qmgr', 'FADI');
  await sendTrigger(queueDir, 'public', 'pickup', 'W');
  if (!woke)
    throw new CommandExit(
      EX.UNAVAILABLE,
      'Cannot flush mail queue - mail system is down',
    );
  return EX.OK;
}

// Postfix's flush protocol (request=send_site site=..., request=
// send_file queue_id=...) to the flush service; says plainly when the
// service is not there.
async function askFlush(
  config: Config,
  request: Record<string, string>,
): Promise<number> {
  const queueDir = config.get('queue_directory');
  if (!fs.existsSync(servicePath(queueDir, 'public', 'flush')))
    throw new CommandExit(
      EX.UNAVAILABLE,
      `Cannot flush mail queue: the flush service (${servicePath(queueDir, 'public', 'flush')}) is not installed or not running`,
    );
  const stream = await connectService(queueDir, 'public', 'flush').catch(
    (err) => {
      throw new CommandExit(
        EX.UNAVAILABLE,
        `Cannot flush mail queue - mail system is down: ${err.message}`,
      );
    },
  );
  stream.writeAttrs(request);
  const reply = await stream.readAttrs();
  stream.close();
  if (reply.status !== '0')
    throw new CommandExit(
      EX.UNAVAILABLE,
      `flush service refused ${request.request}: status ${reply.status}`,
    );
  return EX.OK;
}

async function run(argv: string[]): Promise<number> {
  const req = parseArgs(argv);
  let config: Config;
  try {
    config = Config.load({
      configDir: req.configDir,
      processName: 'postqueue',
    });
  } catch (err) {
    if (err instanceof ConfigError)
      throw new CommandExit(EX.CONFIG, err.message);
    throw err;
  }
  initLog({
    processName: 'postqueue',
    stderr: 'postqueue',
    verbose: req.verbose,
    sinks: [postlogSink(config.get('queue_directory'))],
  });
  const listing = req.action === 'p' || req.action === 'j';
  if (!privileged(config))
    await (listing
      ? requireAuthorized(
          config,
          'authorized_mailq_users',
          'view the mail queue',
        )
      : requireAuthorized(
          config,
          'authorized_flush_users',
          'flush the mail queue',
        ));
  if (listing) return showQueue(config, req.action === 'j');
  if (req.action === 'f') return flushQueue(config);
  if (req.action === 's')
    return askFlush(config, { request: 'send_site', site: req.value });
  return askFlush(config, { request: 'send_file', queue_id: req.value });
}

function main(): void {
  run(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err) => {
      if (!(err instanceof CommandExit)) throw err;
      process.stderr.write(`postqueue: fatal: ${err.message}\n`);
      process.exit(err.code);
    },
  );
}

startCommand(main);
