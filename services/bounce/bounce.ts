// bounce(8): the daemon behind private/bounce (master.cf `bounce unix -
// - n - 0 bounce`, also run as defer and trace, each appending to the log
// of its name). It sends non-delivery notices, delay warnings and trace
// reports (-v, -bv, NOTIFY=SUCCESS); see bounce_service.ts. No VERP.

import { runDaemon } from '../../packages/daemon/daemon';
import { serveBounce } from './bounce_service';

runDaemon({
  name: 'bounce',
  kind: 'stream',
  onConnection: (socket, ctx) =>
    void serveBounce(socket, ctx.queueDir, ctx.config, ctx.serviceName),
});
