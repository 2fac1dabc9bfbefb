// qmgr(8): the queue manager daemon. master runs it as a resident
// 'trigger' service (master.cf `qmgr unix n - n 300 1 qmgr`); cleanup,
// postqueue and master's wakeup write trigger bytes to public/qmgr.
// The work is done by QueueManager (qmgr_manager.ts).

import { runDaemon } from '../../packages/daemon/daemon';
import { QueueManager } from './qmgr_manager';

let manager: QueueManager | undefined;

runDaemon({
  name: 'qmgr',
  kind: 'trigger',
  resident: true,
  init: async (ctx) => {
    manager = new QueueManager({ queueDir: ctx.queueDir, config: ctx.config });
    await manager.start();
  },
  onTrigger: (bytes) => manager?.trigger(bytes),
  onStop: async () => manager?.stop(),
});
