// smtpd(8): the SMTP server. master runs it for the `smtp inet` line of
// master.cf and hands it accepted connections; each one is an
// SmtpdSession (smtpd_proto.ts, STARTTLS in smtpd_tls.ts, AUTH in
// smtpd_sasl.ts), counted by anvil (smtpd_anvil.ts). Limits: no milters
// or policy service yet (see the XXX notes in smtpd_proto.ts).

import { Config } from '../../packages/config/config';
import { runDaemon } from '../../packages/daemon/daemon';
import { parseDaemonArgs } from '../../packages/daemon/daemon_args';
import { msg } from '../../packages/log/log';
import { handleConnection } from './smtpd_proto';
import { prepareSmtpd, SmtpdService } from './smtpd_service';
import { preloadKeyFiles } from './smtpd_tls';

let service: SmtpdService | null = null;

// Postfix's pre_jail_init: read the TLS key files while still root, so
// that a key may be root's alone. The skeleton drops privileges before
// init and has no earlier hook, so this reads the same arguments and
// main.cf itself; a bad configuration is left for runDaemon to report.
function preJailInit(): void {
  try {
    const args = parseDaemonArgs(process.argv.slice(2), 'smtpd');
    const config = Config.load({
      configDir: args.configDir,
      processName: args.processName,
      serviceName: args.serviceName,
    }).withOverrides(args.overrides, args.serviceName);
    preloadKeyFiles(config);
  } catch {
    // runDaemon loads the same configuration and says what is wrong.
  }
}

preJailInit();

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
