#!/usr/bin/env node
// sendmail(1), mailq(1) and newaliases(1): the Sendmail-compatible entry
// that programs call. Mail is handed to postdrop as queue-file records;
// -bp, -bi and -q run postqueue or newaliases, -bs runs smtpd on standard
// input and output. The program name (argv[1]) picks the mode, as
// Postfix's one sendmail binary does. Limits: see submit_options.ts.

import { startCommand } from './sendmail_startup';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Config, ConfigError } from '../config/config';
import { initLog, postlogSink } from '../log/log';
import { getpwuid } from '../util/passwd';
import { REC } from '../queue/record';
import { CommandExit, EX } from './submit_exit';
import { MessageWriter, parseAddressList } from './submit_message';
import { MODE, parseSendmailArgs, SendmailOptions } from './submit_options';
import { parseReplies, programPath, spawnProgram } from './submit_postdrop';
import { RecordSink } from './submit_records';
import { canDropDirectly, dropMessage } from './submit_drop';
import { requireAuthorized } from './submit_authorized';
import { PassThrough } from 'node:stream';

const PROGRAM = 'sendmail';

// A config directory or a main.cf path (-C), as Postfix accepts both.
function configDirOf(given: string | undefined): string | undefined {
  if (!given) return undefined;
  try {
    if (fs.statSync(given).isFile()) return path.dirname(given);
  } catch {
    // Config.load names the missing directory.
  }
  return given;
}

function loadConfig(o: SendmailOptions): Config {
  const configDir = configDirOf(o.configDir);
  if (configDir) process.env.MAIL_CONFIG = path.resolve(configDir);
  try {
    return Config.load({ configDir, processName: PROGRAM });
  } catch (err) {
    if (err instanceof ConfigError)
      throw new CommandExit(EX.CONFIG, err.message);
    throw err;
  }
}

// Run another command in our place and exit with its status.
function runInstead(
  config: Config,
  name: string,
  args: string[],
): Promise<number> {
  const where = programPath(
    config.get('command_directory'),
    name,
    config.configDir,
  );
  const child = spawnProgram(where, args, 'inherit');
  return new Promise((resolve, reject) => {
    child.on('exit', (code, signal) =>
      resolve(signal ? EX.SOFTWARE : (code ?? 0)),
    );
    child.on('error', (err) =>
      reject(
        new CommandExit(EX.OSERR, `execute ${where.file}: ${err.message}`),
      ),
    );
  });
}

function loginName(): string {
  const uid = process.getuid?.() ?? 0;
  return getpwuid(uid)?.name ?? `#${uid}`;
}

// -F, else NAME, else the passwd gecos up to the first comma.
function fullName(o: SendmailOptions): string {
  if (o.fullname !== undefined) return o.fullname;
  if (process.env.NAME) return process.env.NAME;
  const gecos = getpwuid(process.getuid?.() ?? 0)?.gecos ?? '';
  return gecos.split(',')[0];
}

// An envelope address as one line of plain text: "<>" and "" are the
// null sender; brackets are taken off.
function envelopeAddress(text: string, what: string): string {
  const bare = text.trim().replace(/^<(.*)>$/, '$1');
  if (/[\x00-\x1f\x7f<>]/.test(bare) || /\s/.test(bare.replace(/"[^"]*"/g, '')))
    throw new CommandExit(
      EX.USAGE,
      `${what} specified malformed address: ${text}`,
    );
  return bare;
}

function recipientsOf(words: string[]): string[] {
  const out: string[] = [];
  for (const word of words) {
    if (/[\x00-\x1f\x7f]/.test(word))
      throw new CommandExit(
        EX.DATAERR,
        `bad address syntax: ${JSON.stringify(word)}`,
      );
    const list = parseAddressList(word);
    if (list.length === 0 && word.trim() !== '')
      throw new CommandExit(EX.DATAERR, `bad address syntax: ${word}`);
    out.push(...list.map((a) => envelopeAddress(a, 'recipient')));
  }
  return out;
}

async function writeEnvelope(
  sink: RecordSink,
  o: SendmailOptions,
  rcpts: string[],
): Promise<void> {
  const name = fullName(o);
  if (name) await sink.put(REC.FULLNAME, name.replace(/[\r\n\0]/g, ' '));
  const sender =
    o.sender === undefined
      ? loginName()
      : envelopeAddress(o.sender, '-f option');
  await sink.put(REC.SENDER, sender);
  if (o.envid) await sink.put(REC.ATTR, `envelope_id=${o.envid}`);
  if (o.ret) await sink.put(REC.ATTR, `ret_flags=${o.ret}`);
  // -bv and -v: qmgr passes these on, the agents verify or record, and
  // the trace service mails the report (packages/queue/delivery_trace).
  if (o.traceFlags) await sink.put(REC.ATTR, `trace_flags=${o.traceFlags}`);
  for (const r of rcpts) await putRecipient(sink, o, r);
}

async function putRecipient(
  sink: RecordSink,
  o: SendmailOptions,
  rcpt: string,
): Promise<void> {
  if (o.notify) await sink.put(REC.ATTR, `notify_flags=${o.notify}`);
  await sink.put(REC.RCPT, rcpt);
}

function postdropStatus(child: ChildProcess): Promise<number> {
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => {
    child.on('error', () => resolve(-1));
    child.on('close', (code) => {
      const status = parseReplies(Buffer.concat(chunks)).status;
      resolve(
        code !== 0 || status === undefined ? (code ?? -1) : Number(status),
      );
    });
  });
}

async function enqueue(config: Config, o: SendmailOptions): Promise<number> {
  const rcpts = recipientsOf(o.recipients);
  if (rcpts.length === 0 && !o.extract)
    throw new CommandExit(
      EX.USAGE,
      'Recipient addresses must be specified on the command line or via the -t option',
    );
  await requireAuthorized(config, 'authorized_submit_users', 'submit mail');
  const ok = canDropDirectly(config)
    ? await dropHere(config, o, rcpts)
    : await dropThroughPostdrop(config, o, rcpts);
  if (!ok)
    throw new CommandExit(
      EX.TEMPFAIL,
      `${loginName()}(${process.getuid?.()}): unable to queue mail: postdrop failed`,
    );
  if (o.traceFlags)
    process.stdout.write(
      `Mail Delivery Status Report will be mailed to <${o.sender ?? loginName()}>.\n`,
    );
  return EX.OK;
}

async function dropHere(
  config: Config,
  o: SendmailOptions,
  rcpts: string[],
): Promise<boolean> {
  const pipe = new PassThrough();
  let status = '';
  const dropping = dropMessage(config, pipe, (a) => {
    if (a.status !== undefined) status = String(a.status);
  }).catch((err) => err as Error);
  try {
    await copyMessage(config, o, new RecordSink(pipe), rcpts);
  } catch (err) {
    // Input without E: dropMessage removes its file before we go.
    pipe.end();
    await dropping;
    throw err;
  }
  pipe.end();
  const failed = await dropping;
  if (failed instanceof CommandExit && failed.message)
    process.stderr.write(`postdrop: fatal: ${failed.message}\n`);
  return status === '0';
}

async function dropThroughPostdrop(
  config: Config,
  o: SendmailOptions,
  rcpts: string[],
): Promise<boolean> {
  const where = programPath(
    config.get('command_directory'),
    'postdrop',
    config.configDir,
  );
  const child = spawnProgram(where, ['-r'], 'pipe');
  const status = postdropStatus(child);
  const sink = new RecordSink(child.stdin!);
  child.stdin!.on('error', () => undefined);
  try {
    await copyMessage(config, o, sink, rcpts);
  } catch (err) {
    child.stdin!.destroy();
    await status;
    throw err;
  }
  child.stdin!.end();
  return (await status) === 0;
}

async function copyMessage(
  config: Config,
  o: SendmailOptions,
  sink: RecordSink,
  rcpts: string[],
): Promise<void> {
  await writeEnvelope(sink, o, rcpts);
  await sink.put(REC.MESG);
  const writer = new MessageWriter(sink, {
    ignoreDot: o.ignoreDot,
    extract: o.extract,
    lineLimit: config.int('line_length_limit'),
    headerLimit: config.int('header_size_limit'),
  });
  const result = await writer.copy(process.stdin);
  await sink.put(REC.XTRA);
  const { plain, resent } = result.extracted;
  const extracted = recipientsOf(resent.length ? resent : plain);
  if (o.extract && rcpts.length + extracted.length === 0)
    throw new CommandExit(
      EX.USAGE,
      'No recipient addresses found in message header',
    );
  for (const r of extracted) await putRecipient(sink, o, r);
  await sink.put(REC.END);
  await sink.flush();
}

// smtpd's log lines go to the mail log only: standard output is the
// SMTP conversation, and the session's lines would clutter the caller.
async function standAloneSmtp(config: Config): Promise<number> {
  initLog({
    processName: PROGRAM,
    stderr: null,
    sinks: [postlogSink(config.get('queue_directory'))],
  });
  const { runSmtpOnStdio } = await import('./submit_smtp');
  return runSmtpOnStdio(config);
}

async function run(argv: string[], invokedAs: string): Promise<number> {
  const o = parseSendmailArgs(argv);
  if (invokedAs === 'mailq') o.mode = MODE.MAILQ;
  if (invokedAs === 'newaliases') o.mode = MODE.NEWALIASES;
  const config = loadConfig(o);
  initLog({
    processName: invokedAs,
    stderr: invokedAs,
    verbose: o.verbose,
    sinks: [postlogSink(config.get('queue_directory'))],
    onFatal: (code) => process.exit(code === 1 ? EX.TEMPFAIL : code),
  });
  switch (o.mode) {
    case MODE.MAILQ:
      return runInstead(config, 'postqueue', ['-p']);
    case MODE.NEWALIASES:
      return runInstead(config, 'newaliases', []);
    case MODE.FLUSH:
      return runInstead(config, 'postqueue', o.flushArgs);
    case MODE.DAEMON:
      return runInstead(config, 'postfix', ['start']);
    case MODE.SMTP:
      return standAloneSmtp(config);
    default:
      return enqueue(config, o);
  }
}

// argv[1] names the program: the script's path when node runs a file,
// the name the bin shim gives when sendmail_loader.js runs the bundle.
function main(): void {
  const invokedAs = path.basename(process.argv[1] ?? PROGRAM, '.js');
  run(process.argv.slice(2), invokedAs).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      if (!(err instanceof CommandExit)) throw err;
      process.stderr.write(`${invokedAs}: fatal: ${err.message}\n`);
      process.exit(err.code);
    },
  );
}

startCommand(main);
