// Messages between master and its children over the fork channel: the
// Node form of Postfix's status pipe, plus socket hand-over and log lines.
// Master and the daemon skeleton are the only users.

// Master to child. 'listen' and 'conn' carry a handle (a net.Server to
// accept on, or one accepted, paused client socket). A 'conn' with an id
// is answered 'took' with that id once the child holds the socket, so
// that master can keep its own copy until then and hand the client to
// another child if this one dies first.
// 'log-reopen': maillog_file was rotated; stop appending to the
// descriptor given at fork and send log lines to master.
export type MasterToChild =
  | { t: 'listen' }
  | { t: 'conn'; id?: number }
  | { t: 'stop' }
  | { t: 'log-reopen' };

// Child to master.
export type ChildToMaster =
  | { t: 'ready' } // accepting on the handles it was given
  | { t: 'status'; avail: boolean } // room for another client or not
  | { t: 'served' } // the first client was taken: not a startup crash
  | { t: 'want-listen' } // below capacity again: send the listener back
  | { t: 'retire' } // max_use or max_idle reached: send nothing new
  | { t: 'took'; id: number } // holds the client of that 'conn'
  // The event loop runs: master kills the child when the next beat has
  // not come within that many milliseconds (the daemon_timeout watchdog).
  | { t: 'beat'; within: number }
  // The log lines of one event-loop turn; a child of an older build may
  // still send one line as { t: 'log', line }.
  | { t: 'log'; lines?: string[]; line?: string };

export const CHILD_EXIT = {
  OK: 0,
  FATAL: 1,
  PANIC: 2,
} as const;
