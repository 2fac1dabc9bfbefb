// The virtual delivery agent's entry (master.cf "virtual unix - n n - -
// virtual"): mailboxes of virtual_mailbox_domains, found in
// virtual_mailbox_maps under virtual_mailbox_base and owned by the uid
// and gid of virtual_uid_maps and virtual_gid_maps, as Postfix's
// virtual(8). Started as root it writes with those rights.

import type * as net from 'node:net';
import { runDaemon, type DaemonContext } from '../../packages/daemon/daemon';
import {
  queueFileOf,
  serveDeliveryRequest,
} from '../../packages/queue/delivery';
import { Maps } from '../../packages/tables/dict';
import { flushSpentMarkers } from '../local/local_maildir';
import { defaultSettings, type ConfigLike } from '../local/local_state';
import { clearRootGroups } from '../local/local_user';
import { deliverVirtualRequest, type VirtualDeps } from './virtual_deliver';
import type { TableConfig } from '../../packages/tables/dict';

// Rights switch with seteuid for the whole process: one request at a
// time; master.cf's maxproc gives the concurrency, as for local.
const MAX_CLIENTS = 1;

const MARKER_FLUSH_MS = 1000;
let flushTimer: NodeJS.Timeout | null = null;
let deps: VirtualDeps | null = null;

export function virtualDeps(config: ConfigLike & TableConfig): VirtualDeps {
  const maps = (name: string) => new Maps(config.list(name), config);
  return {
    tables: {
      mailboxes: maps('virtual_mailbox_maps'),
      uids: maps('virtual_uid_maps'),
      gids: maps('virtual_gid_maps'),
      base: config.get('virtual_mailbox_base'),
      minimumUid: config.int('virtual_minimum_uid'),
      recipientDelimiter: config.get('recipient_delimiter'),
    },
    settings: defaultSettings({
      mailboxSizeLimit: config.size('virtual_mailbox_limit'),
      mailboxDeliveryLock: config
        .list('virtual_mailbox_lock')
        .map((w) => w.toLowerCase()),
      deliverLockAttempts: config.int('deliver_lock_attempts'),
      deliverLockDelay: config.time('deliver_lock_delay'),
      staleLockTime: config.time('stale_lock_time'),
      myhostname: config.get('myhostname'),
    }),
  };
}

export async function serveConnection(
  socket: net.Socket,
  ctx: DaemonContext,
  virtual: VirtualDeps,
): Promise<void> {
  if (flushTimer) clearTimeout(flushTimer);
  await serveDeliveryRequest(socket, queueFileOf(ctx), async (req, file) => ({
    results: await deliverVirtualRequest(virtual, req, file),
  }));
  // No file work is in flight now: rights may be switched.
  flushTimer = setTimeout(flushSpentMarkers, MARKER_FLUSH_MS).unref();
}

if (require.main === module)
  runDaemon({
    name: 'virtual',
    kind: 'stream',
    maxClients: MAX_CLIENTS,
    init: (ctx) => {
      clearRootGroups();
      deps = virtualDeps(ctx.config);
    },
    onConnection: (socket, ctx) => void serveConnection(socket, ctx, deps!),
    onStop: flushSpentMarkers,
  });
