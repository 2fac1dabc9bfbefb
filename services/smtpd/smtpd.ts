// smtpd(8): the SMTP server. master runs it for the `smtp inet` line of
// master.cf and hands it accepted connections; each one is an
// SmtpdSession (smtpd_proto.ts), counted by anvil (smtpd_anvil.ts).
// STARTTLS and wrapper mode are smtpd_tls.ts's, AUTH smtpd_sasl.ts's.
// Limits: no milters or policy service yet (see the XXX notes in
// smtpd_proto.ts).

import { runDaemon } from '../../packages/daemon/daemon';
import { msg } from '../../packages/log/log';
import { handleConnection } from './smtpd_proto';
import { prepareSmtpd, SmtpdService } from './smtpd_service';

let service: SmtpdService | null = null;

runDaemon({
  name: 'smtpd',
  kind: 'stream',
  init: (ctx) => {
    try {
      service = prepareSmtpd(ctx.config, ctx.queueDir, ctx.serviceName);
    } catch (err) {
      msg.fatal(err instanceof Error ? err.message : String(err));
    }
  },
  onConnection: (socket, _ctx) => {
    if (!service) return void socket.destroy();
    void handleConnection(
      socket,
      service.settings,
      service.check,
      service.anvil,
    );
  },
});
