// The delivery protocol on private/<transport> (INTERNALS.md), both sides,
// and the delivery log line every agent writes. qmgr calls deliverRequest;
// an agent calls readDeliveryRequest, delivers, then writeDeliveryResults.
//
// API (agents: local, smtp, pipe, error, ...):
//
//   // agent side, on the socket that master handed us
//   const stream = AttrStream.fromSocket(socket);
//   const req: DeliveryRequest = await readDeliveryRequest(stream);
//     // writes protocol=delivery_protocol first, then reads the request
//     // and its req.recipients (DeliveryRecipient[], offset = R record)
//   ... deliver; for a delivered recipient call
//     markRecipientDone(queueFilePath, rcpt.offset) (queue_file.ts) ...
//   logDelivery({ request: req, recipient: rcpt, relay: 'local',
//                 dsn: '2.0.0', status: 'sent',
//                 reason: 'delivered to mailbox' });
//   await writeDeliveryResults(stream, [
//     { offset: rcpt.offset, status: '2.0.0', action: 'delivered',
//       reason: 'delivered to mailbox' },
//   ]);
//
//   // qmgr side
//   const results = await deliverRequest(queueDir, 'local', req);
//     // RecipientResult[] in request order; throws DeliveryError when
//     // the transport cannot be reached or breaks the protocol
//
//   formatDelay(0.111) === '0.11'  // Postfix's delay= formatting
//
// Beyond INTERNALS.md the request also carries active_arrival and
// agent_handoff ("sec.usec") so that agents can log delays=a/b/c/d.

import { AttrStream, connectService, IpcError } from '../ipc/ipc';
import type { Attrs } from '../ipc/ipc';
import { msg } from '../log/log';

export interface DeliveryRecipient {
  originalRecipient: string;
  recipient: string;
  offset: number; // file offset of the recipient's R record
  dsnOrigRcpt: string;
  notifyFlags: number;
}

export interface DeliveryRequest {
  flags: number;
  queueName: string; // "active"
  queueId: string;
  offset: number; // offset of the M record's data
  size: number; // content size from the C record
  nexthop: string;
  encoding: string;
  sendopts: number;
  sender: string;
  envelopeId: string;
  retFlags: number;
  arrivalTime: number; // seconds since the epoch, with fraction
  activeArrival: number; // when qmgr moved the file into active/
  agentHandoff: number; // when qmgr sent this request
  logClientName: string;
  logClientAddress: string;
  logClientPort: string;
  logProtocolName: string;
  logHeloName: string;
  rewriteContext: string;
  recipients: DeliveryRecipient[];
}

export type DeliveryAction = 'delivered' | 'relayed' | 'failed' | 'delayed';

export interface RecipientResult {
  offset: number;
  status: string; // DSN code, "2.0.0"
  action: DeliveryAction;
  reason: string;
}

export class DeliveryError extends Error {}
