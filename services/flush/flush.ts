// flush(8): the fast flush daemon behind public/flush (master.cf `flush
// unix n - n 1000? 0 flush`). postqueue -s and -i, sendmail -qR and -qI
// and smtpd's ETRN ask it to deliver a destination's deferred mail now.
// See flush_service.ts for what it keeps and its known limits.

import { runDaemon } from '../../packages/daemon/daemon';
import { FlushService } from './flush_service';
import { serveFlush } from './flush_server';

let service: FlushService | undefined;

runDaemon({
  name: 'flush',
  kind: 'stream',
  init: async (ctx) => {
    service = new FlushService(ctx.queueDir, ctx.config);
  },
  onConnection: (socket, ctx) => {
    service ??= new FlushService(ctx.queueDir, ctx.config);
    void serveFlush(socket, service, ctx.config.time('ipc_timeout') * 1000);
  },
});
