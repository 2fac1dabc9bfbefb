// anvil(8): the connection and rate counter that smtpd asks before it
// serves a client (smtpd_client_*_limit). One resident process on
// private/anvil (master.cf process limit 1), so its counts cover every
// smtpd. Logs statistics every anvil_status_update_time and at stop.

import { runDaemon } from '../../packages/daemon/daemon';
import { AnvilTable } from './anvil_table';
import { handleAnvilClient, logStatistics } from './anvil_server';

let table: AnvilTable | null = null;
let timer: NodeJS.Timeout | null = null;

runDaemon({
  name: 'anvil',
  kind: 'stream',
  resident: true,
  maxClients: 10_000,
  init: (ctx) => {
    table = new AnvilTable(ctx.config.time('anvil_rate_time_unit'));
    const every = ctx.config.time('anvil_status_update_time') * 1000;
    timer = setInterval(() => logStatistics(table!), every);
    timer.unref();
  },
  onConnection: (socket) => {
    if (!table) return void socket.destroy();
    void handleAnvilClient(socket, table);
  },
  onStop: () => {
    if (timer) clearInterval(timer);
    if (table) logStatistics(table);
  },
});
