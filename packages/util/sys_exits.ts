// The sysexits.h exit statuses of commands that local's |command and
// pipe(8) run, with the enhanced status code and text Postfix's
// sys_exits table gives each; a 4.x code means try again later.

export const SYS_EXITS: Readonly<Record<number, readonly [string, string]>> = {
  64: ['5.3.0', 'command line usage error'],
  65: ['5.6.0', 'data format error'],
  66: ['5.3.0', 'cannot open input'],
  67: ['5.1.1', 'user unknown'],
  68: ['5.1.2', 'host name unknown'],
  69: ['5.3.0', 'service unavailable'],
  70: ['5.3.0', 'internal software error'],
  71: ['4.3.0', 'system resource problem'],
  72: ['5.3.0', 'critical OS file missing'],
  73: ['5.2.0', "can't create user output file"],
  74: ['4.3.0', 'input/output error'],
  75: ['4.3.0', 'temporary failure'],
  76: ['5.5.0', 'remote protocol error'],
  77: ['5.7.0', 'permission denied'],
  78: ['5.3.5', 'local configuration error'],
};
