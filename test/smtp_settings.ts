// The smtp client's settings for tests that call deliverSmtpRequest
// directly: short timeouts, no DNS server, no cache unless one is given.
// Each test passes what it needs different.

import type { SmtpSettings } from '../services/smtp/smtp_deliver';

export function smtpTestSettings(
  extra: Partial<SmtpSettings> = {},
): SmtpSettings {
  return {
    lmtp: false,
    heloName: 'client.example',
    connectTimeoutMs: 2000,
    heloTimeoutMs: 2000,
    envelopeTimeoutMs: 2000,
    xferTimeoutMs: 2000,
    doneTimeoutMs: 2000,
    quitTimeoutMs: 500,
    resolverAddress: '',
    myhostname: 'client.example',
    timeoutMs: 2000,
    defaultPort: 25,
    fallbackRelays: [],
    mimeConversion: true,
    cacheLimits: { idleMs: 2000, reuseMs: 300_000 },
    ...extra,
  };
}
