// Messages of the shared connection cache (Postfix's scache(8) protocol:
// find_dest, find_endp, save_dest, save_endp), carried over the fork
// channels through master, which relays them and the sockets they hold
// (services/master/master_relay.ts). Used by scache and the smtp agent.

// Postfix's request names.
export const SCACHE_REQ = {
  FIND_DEST: 'find_dest',
  FIND_ENDP: 'find_endp',
  SAVE_DEST: 'save_dest',
  SAVE_ENDP: 'save_endp',
  REPLY: 'reply',
  READY: 'ready', // scache to master: listening for requests
} as const;

export const SCACHE_STAT = {
  OK: 0, // found: the reply carries the socket
  FAIL: 1, // nothing cached under that label
  UNAVAILABLE: 2, // no scache service in master.cf, or it does not answer
} as const;

export type ScacheStatus = (typeof SCACHE_STAT)[keyof typeof SCACHE_STAT];

// pid names the client process; master fills it in on the way to scache
// and uses it to route the reply back.
export type ScacheMessage =
  | {
      t: 'scache';
      req: typeof SCACHE_REQ.FIND_DEST | typeof SCACHE_REQ.FIND_ENDP;
      id: number;
      label: string;
      pid?: number;
    }
  | {
      t: 'scache';
      req: typeof SCACHE_REQ.SAVE_ENDP; // with the socket as handle
      label: string;
      prop: string; // opaque to scache: the client's endpoint properties
      ttl: number; // seconds
    }
  | {
      t: 'scache';
      req: typeof SCACHE_REQ.SAVE_DEST;
      label: string;
      endp: string; // the endpoint label this destination maps to
      ttl: number;
    }
  | {
      t: 'scache';
      req: typeof SCACHE_REQ.REPLY; // with the socket when status is OK
      id: number;
      status: ScacheStatus;
      endp?: string;
      prop?: string;
      pid?: number;
    }
  | { t: 'scache'; req: typeof SCACHE_REQ.READY };

export function isScacheMessage(m: unknown): m is ScacheMessage {
  return (
    typeof m === 'object' &&
    m !== null &&
    (m as { t?: unknown }).t === 'scache' &&
    typeof (m as { req?: unknown }).req === 'string'
  );
}

// A socket on its way to another process must not be read here: until
// the receiver's acknowledgement closes this copy, a reading handle would
// take the peer's next reply away from the new owner. Node's pause()
// does not stop the handle, so this reaches for it.
// XXX _handle.readStop is Node's internal API: no public call stops it.
export function stopReading(socket: { _handle?: unknown }): void {
  const handle = socket._handle as { readStop?: () => number } | null;
  handle?.readStop?.();
}
