// The local delivery agent's entry (master.cf "local unix - n n - - local"):
// it takes delivery requests from qmgr on private/local and delivers
// each to aliases, .forward, files, commands and mailboxes, as Postfix's
// local(8). Started as root it writes with each recipient's rights.

import type * as net from 'node:net';
import { resolveAddress, RESOLVE_FLAG } from '../../packages/address/resolve';
import { runDaemon, type DaemonContext } from '../../packages/daemon/daemon';
import {
  queueFileOf,
  serveDeliveryRequest,
} from '../../packages/queue/delivery';
import { openAliasTables } from './local_alias';
import { deliverLocalRequest, type LocalDeps } from './local_deliver';
import { flushSpentMarkers } from './local_maildir';
import { loadSettings } from './local_state';
import { clearRootGroups, getpwnam, isRoot, restAs } from './local_user';

// One request at a time per process: rights are switched with seteuid,
// which applies to the whole process, so deliveries must not interleave.
// master.cf's maxproc gives the concurrency, as for Postfix's local.
// Measured here (2 vCPU, gVisor): a switch there and back costs 0.66 ms,
// a Maildir delivery as another user 2.5 ms in all, while a Node child
// per delivery would cost 94 ms to start; so no helper process is used.
const MAX_CLIENTS = 1;

let deps: LocalDeps | null = null;

// Spent Maildir markers of other users than the next delivery's go when
// local has been idle this long (local_maildir.ts).
const MARKER_FLUSH_MS = 1000;
let flushTimer: NodeJS.Timeout | null = null;

export function localDeps(ctx: DaemonContext): LocalDeps {
  const config = ctx.config;
  const settings = loadSettings(config);
  return {
    settings,
    aliases: openAliasTables(settings.aliasMaps, config),
    myorigin: config.get('myorigin'),
    queueDir: ctx.queueDir,
    resolve: async (address) => {
      const r = await resolveAddress(address, config);
      return {
        address: r.recipient,
        local: r.class === 'local',
        fail: (r.flags & RESOLVE_FLAG.FAIL) !== 0,
      };
    },
  };
}

// One qmgr connection: one request, its results, then the socket closes.
export async function serveConnection(
  socket: net.Socket,
  ctx: DaemonContext,
  local: LocalDeps,
): Promise<void> {
  if (flushTimer) clearTimeout(flushTimer);
  await serveDeliveryRequest(socket, queueFileOf(ctx), async (req, file) => ({
    results: await deliverLocalRequest(local, req, file),
  }));
  // No file work is in flight now: rights may be switched.
  flushTimer = setTimeout(flushSpentMarkers, MARKER_FLUSH_MS).unref();
}

if (require.main === module)
  runDaemon({
    name: 'local',
    kind: 'stream',
    maxClients: MAX_CLIENTS,
    init: (ctx) => {
      clearRootGroups();
      deps = localDeps(ctx);
      if (isRoot()) restAs(getpwnam(deps.settings.mailOwner));
    },
    onConnection: (socket, ctx) => void serveConnection(socket, ctx, deps!),
    onStop: flushSpentMarkers,
  });
