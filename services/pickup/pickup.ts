// pickup(8): the trigger service on public/pickup that takes locally
// submitted mail from maildrop/ to cleanup. postdrop and postsuper -r
// wake it; master's wakeup (60 s in master.cf) catches the rest, such as
// mail dropped while the system was down. Limits: see pickup_file.ts.

import { runDaemon } from '../../packages/daemon/daemon';
import { setPickupConfig } from './pickup_file';
import { PickupScanner } from './pickup_scan';

let scanner: PickupScanner | null = null;

runDaemon({
  name: 'pickup',
  kind: 'trigger',
  init: (ctx) => {
    setPickupConfig(ctx.config); // main.cf with master.cf's -o overrides
    // The skeleton has dropped privileges: we are mail_owner now.
    scanner = new PickupScanner(ctx.queueDir, process.getuid?.() ?? 0);
    void scanner.request();
  },
  onTrigger: () => scanner?.request(),
});
