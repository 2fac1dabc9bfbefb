// bounce(8): the daemon behind private/bounce (master.cf `bounce unix -
// - n - 0 bounce`, also run as defer and trace). It sends non-delivery
// notices and delay warnings when qmgr asks; see bounce_service.ts.
// Limits: flush and delay warnings only; no success (NOTIFY=SUCCESS)
// reports, no VERP.

import { runDaemon } from '../../packages/daemon/daemon';
import { serveBounce } from './bounce_service';

runDaemon({
  name: 'bounce',
  kind: 'stream',
  onConnection: (socket, ctx) =>
    void serveBounce(socket, ctx.queueDir, ctx.config),
});
