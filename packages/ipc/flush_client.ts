// Client side of the flush protocol, for smtpd's ETRN and anyone else:
// flushSendSite asks public/flush to deliver a site's deferred mail and
// etrnReply turns the answer into Postfix's ETRN reply. The flush
// daemon (services/flush) is the server.

import { connectService } from './ipc';

// The flush service's answers (Postfix's FLUSH_STAT_*).
export const FLUSH_STAT = {
  OK: 0,
  FAIL: 1,
  UNKNOWN: 2,
  BAD: 3,
  DENY: 4,
} as const;

export interface EtrnReply {
  code: number;
  dsn: string; // Postfix's ETRN replies carry no enhanced status code
  text: string;
}

// One request, one status; FLUSH_STAT.FAIL when the service is down.
export async function flushRequest(
  queueDir: string,
  request: Record<string, string>,
): Promise<number> {
  try {
    const stream = await connectService(queueDir, 'public', 'flush');
    try {
      stream.writeAttrs(request);
      const reply = await stream.readAttrs();
      const status = Number(reply.status);
      return Number.isInteger(status) ? status : FLUSH_STAT.FAIL;
    } finally {
      stream.close();
    }
  } catch {
    return FLUSH_STAT.FAIL;
  }
}

export function flushSendSite(queueDir: string, site: string) {
  return flushRequest(queueDir, { request: 'send_site', site });
}

export function flushAdd(queueDir: string, site: string, queueId: string) {
  return flushRequest(queueDir, { request: 'add', site, queue_id: queueId });
}

// Postfix's smtpd ETRN answers for each flush status.
export function etrnReply(site: string, status: number): EtrnReply {
  if (status === FLUSH_STAT.OK)
    return { code: 250, dsn: '', text: 'Queuing started' };
  if (status === FLUSH_STAT.DENY)
    return { code: 459, dsn: '', text: `<${site}>: service unavailable` };
  return { code: 458, dsn: '', text: 'Unable to queue messages' };
}

// ETRN's argument after the syntax checks smtpd already does. The RFC
// 1985 option prefixes "@" (subdomains too) and "#" (a queue name) are
// dropped: the site itself is flushed.
export async function etrnCommand(
  queueDir: string,
  arg: string,
): Promise<EtrnReply> {
  const site = arg.trim().replace(/^[@#]/, '');
  return etrnReply(site, await flushSendSite(queueDir, site));
}
