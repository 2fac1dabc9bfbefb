// Postfix's dsn_mask.h: the NOTIFY bits and the RET values as queue files
// and delivery requests hold them. Used by smtpd, sendmail, bounce and
// the delivery agents; it imports nothing, so commands stay small.

export const DSN_NOTIFY = {
  NEVER: 1,
  SUCCESS: 2,
  FAILURE: 4,
  DELAY: 8,
} as const;

export const DSN_RET = { FULL: 1, HDRS: 2 } as const;
