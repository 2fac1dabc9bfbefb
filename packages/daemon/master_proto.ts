// Messages between master and its children over the fork channel: the
// Node form of Postfix's status pipe, plus socket hand-over and log lines.
// Master and the daemon skeleton are the only users.

// Master to child. 'listen' and 'conn' carry a handle (a net.Server to
// accept on, or one accepted, paused client socket).
export type MasterToChild = { t: 'listen' } | { t: 'conn' } | { t: 'stop' };

// Child to master.
export type ChildToMaster =
  | { t: 'ready' } // accepting on the handles it was given
  | { t: 'status'; avail: boolean } // room for another client or not
  | { t: 'served' } // the first client was taken: not a startup crash
  | { t: 'want-listen' } // below capacity again: send the listener back
  | { t: 'retire' } // max_use or max_idle reached: send nothing new
  | { t: 'log'; line: string };

export const CHILD_EXIT = {
  OK: 0,
  FATAL: 1,
  PANIC: 2,
} as const;
