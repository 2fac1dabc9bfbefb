// bounce(8): the daemon behind private/bounce (master.cf `bounce unix -
// - n - 0 bounce`, also run as defer and trace). It sends non-delivery
// notices when qmgr asks for a flush of bounce/ID; see bounce_service.ts.
// Limits: only the flush request; delay and success notices are not sent.

import { runDaemon } from '../../packages/daemon/daemon';
import { serveBounce } from './bounce_service';

runDaemon({
  name: 'bounce',
  kind: 'stream',
  onConnection: (socket, ctx) =>
    void serveBounce(socket, ctx.queueDir, ctx.config),
});
