// The message with which a child gives master back a client it accepted
// beyond its capacity, as { t: 'back' } with the socket: master hands it
// to another process. Used by daemon.ts and services/master. Kept out of
// master_proto.ts's ChildToMaster union only until that file takes it.

export const GIVE_BACK = { t: 'back' } as const;

export function isGiveBack(m: unknown): boolean {
  return (
    typeof m === 'object' && m !== null && (m as { t?: unknown }).t === 'back'
  );
}
