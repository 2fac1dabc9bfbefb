// Postfix's words for what went wrong in an SMTP or LMTP session: the
// "host X said: ... (in reply to RCPT TO command)" reasons, connect and
// lost-connection texts, and the DSN code of a reply. Used by
// smtp_deliver; pure functions, no I/O.

export interface Outcome {
  dsn: string; // 2.0.0, 4.4.1, 5.1.1 ...
  reason: string;
}

// Where the session was when it broke, for "while ..." texts.
export const PHASE = {
  CONNECT: 'receiving the initial server greeting',
  ENVELOPE: 'sending the mail envelope',
  BODY: 'sending message body',
  END: 'sending end of data -- message may be sent more than once',
} as const;

export type Phase = (typeof PHASE)[keyof typeof PHASE];

const COMMAND_TEXT: Record<string, string> = {
  'MAIL FROM': 'MAIL FROM',
  'RCPT TO': 'RCPT TO',
  DATA: 'DATA',
  END: 'end of DATA',
  EHLO: 'EHLO',
  HELO: 'HELO',
  LHLO: 'LHLO',
};

// Multi-line replies read as one line: later lines lose their code, as
// in Postfix's smtp_chat. Text from the peer is cut to a sane length.
export function replyText(response: string): string {
  const lines = response.split(/\r?\n/);
  const rest = lines.slice(1).map((l) => l.replace(/^\d{3}[ -]?/, ''));
  const text = [lines[0].replace(/^(\d{3})-/, '$1 '), ...rest].join(' ');
  return text.length > 1000 ? `${text.slice(0, 1000)}...` : text;
}

// The enhanced status code of a reply, or its class with .0.0; a reply
// with no valid code is a protocol error to be tried again.
export function replyDsn(response: string): string {
  const m = /^([245])\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(response);
  if (m && m[1] === m[2][0]) return m[2];
  const code = /^([245])\d\d(?:[ -]|$)/.exec(response);
  return code ? `${code[1]}.0.0` : '4.5.0';
}

export function saidReason(peer: string, response: string, command: string) {
  const text = replyText(response);
  const what = COMMAND_TEXT[command] ?? command;
  return {
    dsn: replyDsn(response),
    reason: `host ${peer} said: ${text} (in reply to ${what} command)`,
  };
}

export function refusedReason(peer: string, response: string): Outcome {
  return {
    dsn: replyDsn(response),
    reason: `host ${peer} refused to talk to me: ${replyText(response)}`,
  };
}

const ERRNO_TEXT: Record<string, string> = {
  ECONNREFUSED: 'Connection refused',
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
};

// "connect to host[addr]:port: Connection refused" (dsn 4.4.1).
export function connectReason(where: string, errno: string): Outcome {
  const why = ERRNO_TEXT[errno] ?? errno.toLowerCase();
  return { dsn: '4.4.1', reason: `connect to ${where}: ${why}` };
}

export function lostReason(peer: string, phase: Phase): Outcome {
  return {
    dsn: '4.4.2',
    reason: `lost connection with host ${peer} while ${phase}`,
  };
}

export function timeoutReason(peer: string, phase: Phase): Outcome {
  return {
    dsn: '4.4.2',
    reason: `conversation with host ${peer} timed out while ${phase}`,
  };
}

export function tooLongReason(peer: string): Outcome {
  return {
    dsn: '4.5.0',
    reason: `conversation with host ${peer} failed: reply exceeds the length limit`,
  };
}

// The delivery action for a DSN: 2 delivered/relayed, 4 delayed, 5 failed.
export function dsnAction(dsn: string, lmtp: boolean) {
  if (dsn.startsWith('2')) return lmtp ? 'delivered' : 'relayed';
  return dsn.startsWith('5') ? 'failed' : 'delayed';
}
