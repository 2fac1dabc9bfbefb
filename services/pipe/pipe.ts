// The pipe delivery agent's entry (master.cf "name unix - n n - - pipe
// flags=... user=... argv=..."): each request is handed to an external
// command, run directly without a shell as user=, as Postfix's pipe(8).
// It must start as root to take user='s rights.

import type * as net from 'node:net';
import { runDaemon, type DaemonContext } from '../../packages/daemon/daemon';
import { parseTime } from '../../packages/config/values';
import { msg } from '../../packages/log/log';
import {
  queueFileOf,
  serveDeliveryRequest,
} from '../../packages/queue/delivery';
import { parsePipeAttr, PipeAttrError } from './pipe_attr';
import { deliverPipeRequest, type PipeDeps } from './pipe_deliver';

// Postfix resets the command search path to _PATH_DEFPATH.
const DEFAULT_PATH = '/usr/bin:/bin';

let deps: PipeDeps | null = null;

export function pipeDeps(ctx: DaemonContext): PipeDeps {
  const config = ctx.config;
  let attr;
  try {
    attr = parsePipeAttr(ctx.argv, {
      mailOwner: config.get('mail_owner'),
      queueDir: ctx.queueDir,
    });
  } catch (err) {
    if (err instanceof PipeAttrError) msg.fatal(err.message);
    throw err;
  }
  return {
    attr,
    service: ctx.serviceName,
    timeLimit: timeLimit(ctx),
    env: commandEnv(config.list('export_environment')),
    recipientDelimiter: config.get('recipient_delimiter'),
  };
}

// <service>_time_limit, else command_time_limit as Postfix's default.
function timeLimit(ctx: DaemonContext): number {
  const name = `${ctx.serviceName}_time_limit`;
  const text = ctx.config.raw(name);
  if (text === undefined) return ctx.config.time('command_time_limit');
  try {
    return parseTime(name, ctx.config.get(name));
  } catch (err) {
    return msg.fatal(`${ctx.config.mainCfPath}: ${(err as Error).message}`);
  }
}

// Only export_environment's names pass, and PATH, as pipe(8) documents.
export function commandEnv(names: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of names) {
    const eq = name.indexOf('=');
    if (eq > 0) env[name.slice(0, eq)] = name.slice(eq + 1);
    else if (process.env[name] !== undefined) env[name] = process.env[name]!;
  }
  env.PATH = DEFAULT_PATH;
  return env;
}

export async function serveConnection(
  socket: net.Socket,
  ctx: DaemonContext,
  pipe: PipeDeps,
): Promise<void> {
  await serveDeliveryRequest(socket, queueFileOf(ctx), async (req, file) => ({
    results: await deliverPipeRequest(pipe, req, file),
  }));
}

if (require.main === module)
  runDaemon({
    name: 'pipe',
    kind: 'stream',
    init: (ctx) => {
      deps = pipeDeps(ctx);
    },
    onConnection: (socket, ctx) => void serveConnection(socket, ctx, deps!),
  });
