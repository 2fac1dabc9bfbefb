#!/usr/bin/env node
// postdrop(1): take one message as queue-file records on standard input
// (sendmail's -r protocol), write it to maildrop/ as the submitting user
// (0644 while writing, 0744 when complete and fsynced), answer queue_id
// then status=0 on standard output (attr0 lists), and wake pickup. Runs setgid postdrop
// through the launcher.

import { startCommand } from './sendmail_startup';
import { getopt } from '../util/getopt';
import { Config } from '../config/config';
import { initLog, postlogSink } from '../log/log';
import { encodeAttrs } from '../ipc/attr';
import { CommandExit, EX } from './submit_exit';
import { dropMessage } from './submit_drop';
import { requireAuthorized } from './submit_authorized';

// The first -c wins: the setgid launcher puts its fixed one first, so a
// user cannot point postdrop at a configuration of their own.
function parseArgs(argv: string[]): { configDir?: string; verbose: number } {
  const { options } = getopt(argv, 'c:rv');
  const c = options.find((o) => o.name === 'c');
  return {
    configDir: c?.value,
    verbose: options.filter((o) => o.name === 'v').length,
  };
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    throw new CommandExit(
      EX.USAGE,
      `usage: postdrop [-rv] [-c config_dir]: ${(err as Error).message}`,
    );
  }
  const config = Config.load({
    configDir: args.configDir,
    processName: 'postdrop',
  });
  initLog({
    processName: 'postdrop',
    stderr: 'postdrop',
    verbose: args.verbose,
    sinks: [postlogSink(config.get('queue_directory'))],
  });
  const reply = (a: Record<string, string | number>) =>
    void process.stdout.write(encodeAttrs(a));
  await requireAuthorized(config, 'authorized_submit_users', 'submit mail');
  await dropMessage(config, process.stdin, reply);
  return EX.OK;
}

function start(): void {
  main().then(
    (code) => (process.exitCode = code),
    (err) => {
      const code = err instanceof CommandExit ? err.code : EX.SOFTWARE;
      if (err.message)
        process.stderr.write(`postdrop: fatal: ${err.message}\n`);
      process.exit(code);
    },
  );
}

startCommand(start);
