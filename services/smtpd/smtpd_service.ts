// What an smtpd process sets up once before its first client: the typed
// settings and the access checks, refusing to start as an open relay or
// with a bad value (the caller turns the error into msg.fatal, so master
// throttles the service). Used by smtpd.ts and the smtpd tests.

import { Config } from '../../packages/config/config';
import { SmtpdCheck, relayGuardError } from './smtpd_check';
import { loadSettings, SmtpdSettings } from './smtpd_settings';
import { AnvilClient, anvilLimits } from './smtpd_anvil';

export class SmtpdConfigError extends Error {}

export interface SmtpdService {
  settings: SmtpdSettings;
  check: SmtpdCheck;
  anvil: AnvilClient;
}

export function prepareSmtpd(
  config: Config,
  queueDir: string,
  serviceName = 'smtp',
): SmtpdService {
  const relayError = relayGuardError(
    config.list('smtpd_relay_restrictions'),
    config.list('smtpd_recipient_restrictions'),
  );
  if (relayError) throw new SmtpdConfigError(relayError);
  try {
    const settings = loadSettings(config, queueDir, serviceName);
    const limits = anvilLimits(settings);
    return {
      settings,
      check: new SmtpdCheck(config),
      anvil: new AnvilClient(queueDir, serviceName, limits),
    };
  } catch (err) {
    throw new SmtpdConfigError(
      err instanceof Error ? err.message : String(err),
    );
  }
}
