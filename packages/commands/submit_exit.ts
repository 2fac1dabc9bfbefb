// Exit codes of sysexits.h as Postfix's sendmail, postdrop, postqueue and
// postsuper use them, and the error that carries one to the top of a
// command. Used by the submission and queue commands only.

export const EX = {
  OK: 0,
  USAGE: 64,
  DATAERR: 65,
  NOINPUT: 66,
  NOUSER: 67,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  OSERR: 71,
  CANTCREAT: 73,
  IOERR: 74,
  TEMPFAIL: 75,
  PROTOCOL: 76,
  NOPERM: 77,
  CONFIG: 78,
} as const;

// Thrown where a command must stop; main() prints "prog: fatal: text"
// and exits with code.
export class CommandExit extends Error {
  readonly code: number;

  constructor(code: number, text: string) {
    super(text);
    this.code = code;
  }
}
