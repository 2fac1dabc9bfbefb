#!/usr/bin/env node
// postsuper(8): the superuser's queue maintenance: delete (-d), hold
// (-h), release (-H), requeue through maildrop and pickup (-r), force
// expiry (-e, -f), purge stale temporary files (-p) and repair file
// names and hashing (-s), with Postfix's per-message log lines and
// summary counts. Our extension: "-d ALL corrupt" and "-d ID corrupt"
// remove the damaged files qmgr saved in corrupt/ (Postfix leaves those
// to rm). Limits: no -S (long/short ID conversion).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Config, ConfigError } from '../config/config';
import { initLog, msg, postlogSink } from '../log/log';
import { sendTrigger } from '../ipc/ipc';
import {
  QUEUE,
  queuePath,
  makeQueueId,
  moveQueueFile,
} from '../queue/mail_queue';
import { isQueueId, parseQueueId } from '../queue/queue_id';
import { removeStatusLog, STATUS_LOG } from '../queue/status_log';
import { queueFiles } from '../../services/showq/showq_queue';
import { getopt, GetoptError } from '../util/getopt';
import { CommandExit, EX } from './submit_exit';

const USAGE =
  'usage: postsuper [-c config_dir] [-d queue_id (delete)] [-e queue_id (expire)] [-f queue_id (expire and flush)] [-h queue_id (hold)] [-H queue_id (un-hold)] [-p (purge temporary files)] [-r queue_id (requeue)] [-s (structure fix)] [-v (verbose)] [queue...]';

const OP = {
  DELETE: 'd',
  HOLD: 'h',
  RELEASE: 'H',
  REQUEUE: 'r',
  EXPIRE: 'e',
  EXPIRE_FLUSH: 'f',
} as const;
type Op = (typeof OP)[keyof typeof OP];

// The queues each operation looks in by default (postsuper.c).
const DEFAULT_QUEUES: Record<Op, string[]> = {
  d: [QUEUE.HOLD, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
  h: [QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
  H: [QUEUE.HOLD],
  r: [QUEUE.HOLD, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
  e: [QUEUE.HOLD, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
  f: [QUEUE.HOLD, QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED],
};

// Summary words, as "postsuper: Deleted: 3 messages".
const SUMMARY: Record<Op, string> = {
  d: 'Deleted',
  h: 'Placed on hold',
  H: 'Released from hold',
  r: 'Requeued',
  e: 'Force-expired',
  f: 'Force-expired',
};

const PER_MESSAGE: Record<Op, string> = {
  d: 'removed',
  h: 'placed on hold',
  H: 'released from hold',
  r: 'requeued',
  e: 'expired',
  f: 'expired',
};

const QUEUE_NAMES = new Set<string>([
  QUEUE.MAILDROP,
  QUEUE.INCOMING,
  QUEUE.ACTIVE,
  QUEUE.DEFERRED,
  QUEUE.HOLD,
]);
// Only deleting makes sense for corrupt/: moving a damaged file back
// into the mail flow would have qmgr save it there again.
const CORRUPT_OPS: ReadonlySet<Op> = new Set([OP.DELETE]);
const TEMP_FILE_AGE_SEC = 3600;
const FORCED_EXPIRE_BIT = 0o010;

interface Request {
  configDir?: string;
  verbose: number;
  purge: boolean;
  repair: boolean;
  ops: Array<{ op: Op; id: string }>;
  queues: string[];
}

interface Ctx {
  config: Config;
  queueDir: string;
}

function parseArgs(argv: string[]): Request {
  let parsed;
  try {
    parsed = getopt(argv, 'c:d:e:f:h:H:pr:sSv');
  } catch (err) {
    if (err instanceof GetoptError)
      throw new CommandExit(EX.USAGE, `${err.message}\n${USAGE}`);
    throw err;
  }
  const req: Request = {
    verbose: 0,
    purge: false,
    repair: false,
    ops: [],
    queues: parsed.operands,
  };
  for (const { name, value } of parsed.options) {
    if (name === 'c') req.configDir = value;
    else if (name === 'v') req.verbose++;
    else if (name === 'p') req.purge = true;
    else if (name === 's' || name === 'S') req.repair = true;
    else req.ops.push({ op: name as Op, id: value });
  }
  for (const q of req.queues) checkQueueName(req, q);
  if (!req.purge && !req.repair && req.ops.length === 0)
    throw new CommandExit(EX.USAGE, USAGE);
  return req;
}

function checkQueueName(req: Request, queue: string): void {
  if (QUEUE_NAMES.has(queue)) return;
  const corruptOk =
    req.ops.length > 0 && req.ops.every((o) => CORRUPT_OPS.has(o.op));
  if (queue === QUEUE.CORRUPT && corruptOk) return;
  throw new CommandExit(EX.USAGE, `invalid directory name: ${queue}`);
}

// "-d -": queue IDs from standard input, white space between them.
function idsOf(id: string): string[] {
  if (id !== '-') return [id];
  return fs.readFileSync(0, 'utf8').split(/\s+/).filter(Boolean);
}

// Where the named message is, in the queues this operation may touch.
function findMessages(
  ctx: Ctx,
  op: Op,
  id: string,
  queues: string[],
): Array<{ queue: string; id: string }> {
  if (id === 'ALL')
    return queues.flatMap((q) =>
      queueFiles(ctx.queueDir, q).map((f) => ({ queue: q, id: f.id })),
    );
  if (!isQueueId(id)) {
    msg.warn(`invalid mail queue id: ${id}`);
    return [];
  }
  const hit = queues.find((q) =>
    fs.existsSync(queuePath(ctx.queueDir, q, id, ctx.config)),
  );
  return hit ? [{ queue: hit, id }] : [];
}

async function removeLogs(ctx: Ctx, id: string): Promise<void> {
  for (const log of [STATUS_LOG.BOUNCE, STATUS_LOG.DEFER, STATUS_LOG.TRACE])
    await removeStatusLog(ctx.queueDir, log, id, ctx.config);
}

// One operation on one message; false when it did not apply.
async function apply(
  ctx: Ctx,
  op: Op,
  queue: string,
  id: string,
): Promise<boolean> {
  const file = queuePath(ctx.queueDir, queue, id, ctx.config);
  try {
    return await APPLY[op](ctx, queue, id, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

const move = (ctx: Ctx, id: string, from: string, to: string) =>
  moveQueueFile(ctx.queueDir, id, from, to, ctx.config);

const APPLY: Record<
  Op,
  (ctx: Ctx, queue: string, id: string, file: string) => Promise<boolean>
> = {
  d: async (ctx, _q, id, file) => {
    await fs.promises.unlink(file);
    await removeLogs(ctx, id);
    return true;
  },
  h: async (ctx, q, id) => {
    if (q === QUEUE.HOLD) return false;
    await move(ctx, id, q, QUEUE.HOLD);
    return true;
  },
  H: async (ctx, q, id) => {
    if (q !== QUEUE.HOLD) return false;
    await move(ctx, id, q, QUEUE.DEFERRED);
    return true;
  },
  // Rename, not copy: the message is in exactly one place at every
  // moment, so a crash neither loses it nor sends it twice. pickup knows
  // a requeued file by its owner (mail_owner) and mode (not o+r).
  r: async (ctx, q, id) => {
    const to = await move(ctx, id, q, QUEUE.MAILDROP);
    await fs.promises.chmod(to, 0o700);
    await removeLogs(ctx, id);
    return true;
  },
  e: async (ctx, _q, _id, file) => {
    const st = await fs.promises.stat(file);
    await fs.promises.chmod(file, (st.mode & 0o7777) | FORCED_EXPIRE_BIT);
    return true;
  },
  f: async (ctx, q, id, file) => {
    await APPLY.e(ctx, q, id, file);
    if (q === QUEUE.HOLD) await move(ctx, id, q, QUEUE.DEFERRED);
    return true;
  },
};

function plural(n: number): string {
  return `${n} message${n === 1 ? '' : 's'}`;
}

async function runOp(
  ctx: Ctx,
  op: Op,
  ids: string[],
  queues: string[],
): Promise<number> {
  let count = 0;
  for (const given of ids)
    for (const { queue, id } of findMessages(ctx, op, given, queues))
      if (await apply(ctx, op, queue, id)) {
        msg.info(`${id}: ${PER_MESSAGE[op]}`);
        count++;
      }
  return count;
}

// Files left by a crash between create and rename: not named as queue
// IDs, and not touched for an hour.
function purgeTemporary(ctx: Ctx): void {
  const now = Date.now() / 1000;
  for (const q of [
    QUEUE.MAILDROP,
    QUEUE.INCOMING,
    QUEUE.ACTIVE,
    QUEUE.DEFERRED,
    QUEUE.HOLD,
  ]) {
    const dir = path.join(ctx.queueDir, q);
    for (const name of safeList(dir)) {
      const file = path.join(dir, name);
      const st = fs.lstatSync(file, { throwIfNoEntry: false });
      if (
        !st?.isFile() ||
        isQueueId(name) ||
        now - st.mtimeMs / 1000 < TEMP_FILE_AGE_SEC
      )
        continue;
      fs.rmSync(file, { force: true });
      msg.warn(`${q}/${name}: removed stale temporary file`);
    }
  }
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

// A name that does not match its inode (a restored backup, or a change
// of enable_long_queue_ids) gets the right one; a file in the wrong hash
// directory (hash_queue_depth changed) moves to the right one.
async function repairQueue(ctx: Ctx, queue: string): Promise<number> {
  let renamed = 0;
  for (const { id, file } of queueFiles(ctx.queueDir, queue)) {
    const st = fs.statSync(file, { bigint: true, throwIfNoEntry: false });
    const parts = parseQueueId(id);
    if (!st || !parts) continue;
    let want = id;
    if (parts.inode !== st.ino) {
      const sec = Number(st.mtimeMs / 1000n);
      want = makeQueueId({ sec, usec: parts.usec }, st.ino, ctx.config);
    }
    const where = queuePath(ctx.queueDir, queue, want, ctx.config);
    if (where === file) continue;
    await fs.promises.mkdir(path.dirname(where), { recursive: true });
    if (fs.existsSync(where)) continue;
    await fs.promises.rename(file, where);
    if (want !== id) {
      msg.warn(`${queue}/${id}: renamed to ${want} to match inode number`);
      renamed++;
    }
  }
  return renamed;
}

// XXX -S is taken as -s: converting between short and long queue IDs
// after enable_long_queue_ids changes is not done.
function loadConfig(req: Request): Ctx {
  let config: Config;
  try {
    config = Config.load({
      configDir: req.configDir,
      processName: 'postsuper',
    });
  } catch (err) {
    if (err instanceof ConfigError)
      throw new CommandExit(EX.CONFIG, err.message);
    throw err;
  }
  const queueDir = config.get('queue_directory');
  initLog({
    processName: 'postsuper',
    syslogName: config.get('syslog_name'),
    hostname: config.get('myhostname'),
    stderr: 'postsuper',
    verbose: req.verbose,
    sinks: [postlogSink(queueDir)],
  });
  return { config, queueDir };
}

async function repairAll(ctx: Ctx): Promise<void> {
  let n = 0;
  for (const q of [QUEUE.INCOMING, QUEUE.ACTIVE, QUEUE.DEFERRED, QUEUE.HOLD])
    n += await repairQueue(ctx, q);
  if (n) msg.info(`Renamed to match inode number: ${plural(n)}`);
}

// -s and -p first, then the per-message operations, as postsuper.c.
async function run(argv: string[]): Promise<number> {
  const req = parseArgs(argv);
  if ((process.getuid?.() ?? 0) !== 0)
    throw new CommandExit(
      EX.NOPERM,
      'use of this command is reserved for the superuser',
    );
  const ctx = loadConfig(req);
  if (req.repair) await repairAll(ctx);
  if (req.purge) purgeTemporary(ctx);
  await runOps(ctx, req);
  return EX.OK;
}

// Deletions first, then the moves, as postsuper.c orders them.
async function runOps(ctx: Ctx, req: Request): Promise<void> {
  let requeued = false;
  for (const op of [
    OP.DELETE,
    OP.HOLD,
    OP.RELEASE,
    OP.REQUEUE,
    OP.EXPIRE,
    OP.EXPIRE_FLUSH,
  ]) {
    const ids = req.ops.filter((o) => o.op === op).flatMap((o) => idsOf(o.id));
    if (ids.length === 0) continue;
    const queues = req.queues.length ? req.queues : DEFAULT_QUEUES[op];
    const n = await runOp(ctx, op, ids, queues);
    if (n) msg.info(`${SUMMARY[op]}: ${plural(n)}`);
    if (op === OP.REQUEUE && n) requeued = true;
  }
  if (requeued) await sendTrigger(ctx.queueDir, 'public', 'pickup', 'W');
  if (req.ops.some((o) => o.op === OP.EXPIRE_FLUSH || o.op === OP.RELEASE))
    await sendTrigger(ctx.queueDir, 'public', 'qmgr', 'D');
}

run(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err) => {
    if (!(err instanceof CommandExit)) throw err;
    process.stderr.write(`postsuper: fatal: ${err.message}\n`);
    process.exit(err.code);
  },
);
