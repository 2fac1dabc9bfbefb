// The smtp and lmtp delivery agents' entry (master.cf "smtp unix - - n -
// - smtp" and "lmtp unix - - n - - lmtp"): delivery requests from qmgr on
// private/<service>, more than one per connection when qmgr keeps it
// (packages/ipc/kept_connection.ts). Started as "lmtp" (or with a service name
// beginning lmtp) it speaks LMTP and reads the lmtp_* parameters.

import type * as net from 'node:net';
import { runDaemon, type DaemonContext } from '../../packages/daemon/daemon';
import { keepLimits } from '../../packages/ipc/kept_connection';
import {
  queueFileOf,
  serveDeliveryRequest,
} from '../../packages/queue/delivery';
import {
  deliverSmtpRequest,
  loadSmtpSettings,
  type SmtpSettings,
} from './smtp_deliver';

let settings: SmtpSettings | null = null;

// Postfix's smtp and lmtp are one program that looks at its own name.
export function isLmtp(ctx: DaemonContext): boolean {
  return ctx.processName === 'lmtp' || ctx.serviceName.startsWith('lmtp');
}

export async function serveConnection(
  socket: net.Socket,
  ctx: DaemonContext,
  s: SmtpSettings,
): Promise<void> {
  await serveDeliveryRequest(
    socket,
    queueFileOf(ctx),
    (req, file) => deliverSmtpRequest(s, req, file),
    keepLimits(ctx),
  );
}

// Also the entry of an lmtp service: services/lmtp/lmtp.ts may call
// runSmtpAgent('lmtp') so that master.cf's "lmtp" command works.
export function runSmtpAgent(name: 'smtp' | 'lmtp'): void {
  runDaemon({
    name,
    kind: 'stream',
    init: (ctx) => {
      settings = loadSmtpSettings(ctx.config, isLmtp(ctx), ctx.serviceName);
    },
    onConnection: (socket, ctx) => void serveConnection(socket, ctx, settings!),
  });
}

if (require.main === module) runSmtpAgent('smtp');
