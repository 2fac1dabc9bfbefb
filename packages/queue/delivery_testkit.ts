// A delivery request for the tests of the delivery protocol
// (delivery_test.ts, delivery_reuse_test.ts): every field of Postfix's
// request with a plausible value, and two recipients unless given.

import type { DeliveryRecipient, DeliveryRequest } from './delivery';

const RECIPIENTS: DeliveryRecipient[] = [
  {
    originalRecipient: 'bob',
    recipient: 'bob@mx.example.com',
    offset: 200,
    dsnOrigRcpt: '',
    notifyFlags: 0,
  },
  {
    originalRecipient: '',
    recipient: 'eve@mx.example.com',
    offset: 250,
    dsnOrigRcpt: 'rfc822;eve@x',
    notifyFlags: 2,
  },
];

export function sampleRequest(
  queueId = '4F9D62A1F3',
  recipients: DeliveryRecipient[] = RECIPIENTS,
): DeliveryRequest {
  return {
    flags: 0,
    queueName: 'active',
    queueId,
    offset: 300,
    size: 1534,
    nexthop: 'example.com',
    encoding: '8BITMIME',
    sendopts: 0,
    sender: 'a@example.net',
    envelopeId: '',
    retFlags: 0,
    arrivalTime: 1000.5,
    activeArrival: 1000.53,
    agentHandoff: 1000.54,
    logClientName: 'mail.example.net',
    logClientAddress: '192.0.2.10',
    logClientPort: '25',
    logProtocolName: 'ESMTP',
    logHeloName: 'mail.example.net',
    rewriteContext: 'remote',
    recipients: recipients.map((r) => ({ ...r })),
  };
}
