// receive_override_options, as Postfix's input_transp: which of
// cleanup's address mapping, content checks and milters a mail entry
// point (smtpd, pickup) asks for, and whether smtpd checks unknown
// recipients. Used by services/smtpd and services/pickup. Unknown words
// are warned about once per configuration and ignored.

import { Config } from '../../packages/config/config';
import { CLEANUP_FLAG } from '../../packages/ipc/cleanup_client';
import { msg } from '../../packages/log/log';

export const RECEIVE_OVERRIDE = {
  NO_UNKNOWN_RCPT: 1, // no_unknown_recipient_checks
  NO_ADDRESS_MAPPINGS: 2, // no_address_mappings
  NO_HEADER_BODY_CHECKS: 4, // no_header_body_checks
  NO_MILTERS: 8, // no_milters
} as const;

const WORDS: Record<string, number> = {
  no_unknown_recipient_checks: RECEIVE_OVERRIDE.NO_UNKNOWN_RCPT,
  no_address_mappings: RECEIVE_OVERRIDE.NO_ADDRESS_MAPPINGS,
  no_header_body_checks: RECEIVE_OVERRIDE.NO_HEADER_BODY_CHECKS,
  no_milters: RECEIVE_OVERRIDE.NO_MILTERS,
};

const cache = new WeakMap<Config, number>();

export function receiveOverrides(config: Config): number {
  let bits = cache.get(config);
  if (bits !== undefined) return bits;
  bits = 0;
  for (const word of config.list('receive_override_options')) {
    const bit = WORDS[word.toLowerCase()];
    if (bit === undefined)
      msg.warn(`receive_override_options: unknown value: "${word}"`);
    bits |= bit ?? 0;
  }
  cache.set(config, bits);
  return bits;
}

// The cleanup flags an entry point asks for, less what the overrides
// turn off. Postfix ties BCC to address mapping: both go together.
export function cleanupFlags(config: Config, flags: number): number {
  const bits = receiveOverrides(config);
  if (bits & RECEIVE_OVERRIDE.NO_ADDRESS_MAPPINGS)
    flags &= ~(CLEANUP_FLAG.MAP_OK | CLEANUP_FLAG.BCC_OK);
  if (bits & RECEIVE_OVERRIDE.NO_HEADER_BODY_CHECKS)
    flags &= ~CLEANUP_FLAG.FILTER;
  if (bits & RECEIVE_OVERRIDE.NO_MILTERS) flags &= ~CLEANUP_FLAG.MILTER;
  return flags;
}
