// A delivery agent for the hardening tests, listed in a test's master.cf:
// it delivers as discard(8) does, except for a message whose body has a
// line HANG (never answers), BUSY (blocks its event loop) or CRASH (exits
// at once). Test use only: it stands in for an agent with a bug.

import type * as net from 'node:net';
import { runDaemon, type DaemonContext } from '../../packages/daemon/daemon';
import { contentLines } from '../../packages/queue/queue_file';
import {
  queueFileOf,
  serveDeliveryRequest,
  type AgentAnswer,
  type DeliveryRequest,
} from '../../packages/queue/delivery';
import { discardRecipients } from '../../services/discard/discard';

const FAULTS = ['HANG', 'BUSY', 'CRASH'] as const;
type Fault = (typeof FAULTS)[number];

async function faultOf(file: string, offset: number): Promise<Fault | null> {
  for await (const line of contentLines(file, offset)) {
    const text = line.toString('latin1') as Fault;
    if (FAULTS.includes(text)) return text;
  }
  return null;
}

function busyLoop(): never {
  for (;;) {
    // Nothing: the event loop never runs again.
  }
}

async function deliver(
  req: DeliveryRequest,
  file: string,
): Promise<AgentAnswer> {
  const fault = await faultOf(file, req.offset);
  if (fault === 'HANG') await new Promise(() => undefined);
  if (fault === 'BUSY') busyLoop();
  if (fault === 'CRASH') process.exit(1);
  return { results: await discardRecipients(req, file) };
}

function serve(socket: net.Socket, ctx: DaemonContext): void {
  void serveDeliveryRequest(socket, queueFileOf(ctx), deliver);
}

runDaemon({ name: 'test_agent', kind: 'stream', onConnection: serve });
