// cleanup(8): the daemon that turns a client's envelope and content into
// a committed queue file in incoming/ (or hold/) and wakes qmgr. Started
// by master for the `cleanup` line of master.cf; the work is in
// cleanup_service.ts, so that tests can serve it on their own socket.

import { runDaemon } from '../../packages/daemon/daemon';
import { handleCleanupClient } from './cleanup_service';

runDaemon({
  name: 'cleanup',
  kind: 'stream',
  onConnection: (socket, ctx) => void handleCleanupClient(socket, ctx),
});
