// trivial-rewrite(8): the address rewriting and resolving service on
// private/rewrite, for clients that would rather ask than load tables.
// Started by master for the `rewrite` line of master.cf; the protocol is
// in trivial_rewrite_service.ts. qmgr, smtpd, cleanup and local use the
// same library (packages/address) in-process and need not call it.

import { runDaemon } from '../../packages/daemon/daemon';
import { handleRewriteClient } from './trivial_rewrite_service';

runDaemon({
  name: 'trivial-rewrite',
  kind: 'stream',
  onConnection: (socket, ctx) => void handleRewriteClient(socket, ctx.config),
});
