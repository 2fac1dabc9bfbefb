// One delivery request for pipe(8): check size= and the one-recipient
// flags, build the command line and the message copy that flags=
// asks for, run the command once for all recipients, mark them done on
// success, and give qmgr one result per recipient.

import * as fs from 'node:fs';
import {
  logDelivery,
  type DeliveryRecipient,
  type DeliveryRequest,
  type RecipientResult,
} from '../../packages/queue/delivery';
import {
  markRecipientDone,
  openFdForDelivery,
} from '../../packages/queue/queue_file';
import { msg } from '../../packages/log/log';
import { asctime, contentLines } from '../local/local_content';
import type { PipeAttr } from './pipe_attr';
import { expandArgv, PipeMacroError } from './pipe_argv';
import { runCommand, type CommandOutcome } from './pipe_command';

export interface PipeDeps {
  attr: PipeAttr;
  service: string; // master.cf name: relay=, "delivered via ..."
  timeLimit: number; // <service>_time_limit, seconds
  env: Record<string, string>;
  recipientDelimiter: string;
}

const ACTION = { deferred: 'delayed', bounced: 'failed' } as const;

const CONFIG_ERROR: CommandOutcome = {
  status: 'deferred',
  dsn: '4.3.5',
  reason: 'mail system configuration error',
};

export async function deliverPipeRequest(
  deps: PipeDeps,
  req: DeliveryRequest,
  queueFile: string,
): Promise<RecipientResult[]> {
  const early = precheck(deps, req);
  if (early) return results(deps, req, -1, early);
  let fd: number;
  try {
    fd = await openFdForDelivery(queueFile);
  } catch (err) {
    msg.warn(`${req.queueId}: open queue file ${queueFile}: ${errText(err)}`);
    return results(deps, req, -1, readError());
  }
  try {
    const outcome = await runFor(deps, req, fd);
    return await results(deps, req, fd, outcome);
  } finally {
    fs.closeSync(fd);
  }
}

function readError(): CommandOutcome {
  return {
    status: 'deferred',
    dsn: '4.3.0',
    reason: 'error reading message file',
  };
}

// What fails before any command runs.
function precheck(deps: PipeDeps, req: DeliveryRequest): CommandOutcome | null {
  const a = deps.attr;
  if (a.size > 0 && req.size > a.size)
    return {
      status: 'bounced',
      dsn: '5.2.3',
      reason: `message too large`,
    };
  const oneOnly = /[DO]/.exec(a.flags);
  if (oneOnly && req.recipients.length > 1) {
    msg.warn(
      `pipe flag '${oneOnly[0]}' requires ` +
        `${deps.service}_destination_recipient_limit = 1`,
    );
    return CONFIG_ERROR;
  }
  return null;
}

async function runFor(
  deps: PipeDeps,
  req: DeliveryRequest,
  fd: number,
): Promise<CommandOutcome> {
  const a = deps.attr;
  let argv: string[];
  try {
    argv = expandArgv(a.argv, {
      req,
      flags: a.flags,
      nullSender: a.nullSender,
      recipientDelimiter: deps.recipientDelimiter,
    });
  } catch (err) {
    if (!(err instanceof PipeMacroError)) throw err;
    msg.warn(`${req.queueId}: ${err.message}`);
    return CONFIG_ERROR;
  }
  try {
    return await runCommand({
      argv,
      rights: a.rights,
      cwd: a.directory,
      env: deps.env,
      timeLimit: deps.timeLimit,
      input: messageCopy(a, req, fd),
    });
  } catch (err) {
    msg.warn(`${req.queueId}: pipe_command: ${errText(err)}`);
    return readError();
  }
}

// The bytes the command reads: envelope lines as flags= asks (F R O D;
// Delivered-To: in lower case, as Postfix writes it), then the content
// with . and > quoting, eol= line ends, and B's blank line at the end.
export function* messageCopy(
  a: PipeAttr,
  req: DeliveryRequest,
  fd: number,
): Generator<Buffer> {
  const f = a.flags;
  const rcpt = req.recipients[0];
  const head: string[] = [];
  if (f.includes('F'))
    head.push(`From ${req.sender || 'MAILER-DAEMON'}  ${asctime(new Date())}`);
  if (f.includes('R')) head.push(`Return-Path: <${req.sender}>`);
  if (f.includes('O') && rcpt?.originalRecipient)
    head.push(`X-Original-To: ${rcpt.originalRecipient}`);
  if (f.includes('D') && rcpt)
    head.push(`Delivered-To: ${rcpt.recipient.toLowerCase()}`);
  const eol = Buffer.from(a.eol);
  for (const line of head) yield Buffer.concat([Buffer.from(line), eol]);
  for (const line of contentLines(fd, req.offset))
    yield Buffer.concat([quote(line, f), line, eol]);
  if (f.includes('B')) yield eol;
}

const EMPTY = Buffer.alloc(0);
const DOT = Buffer.from('.');
const GT = Buffer.from('>');

function quote(line: Buffer, flags: string): Buffer {
  if (flags.includes('.') && line[0] === 0x2e) return DOT;
  if (flags.includes('>') && line.subarray(0, 5).toString() === 'From ')
    return GT;
  return EMPTY;
}

// One outcome for every recipient of the request; on success each is
// marked done in the queue file before qmgr hears of it.
async function results(
  deps: PipeDeps,
  req: DeliveryRequest,
  fd: number,
  outcome: CommandOutcome,
): Promise<RecipientResult[]> {
  const out: RecipientResult[] = [];
  for (const rcpt of req.recipients)
    out.push(await recipientResult(deps, req, fd, rcpt, outcome));
  return out;
}

async function recipientResult(
  deps: PipeDeps,
  req: DeliveryRequest,
  fd: number,
  rcpt: DeliveryRecipient,
  outcome: CommandOutcome,
): Promise<RecipientResult> {
  let o = outcome;
  if (o.status === 'sent') o = await markDone(deps, req, fd, rcpt);
  logDelivery({
    request: req,
    recipient: rcpt,
    relay: deps.service,
    dsn: o.dsn,
    status: o.status,
    reason: o.reason,
  });
  const final = deps.attr.flags.includes('X') ? 'delivered' : 'relayed';
  const action = o.status === 'sent' ? final : ACTION[o.status];
  return { offset: rcpt.offset, status: o.dsn, action, reason: o.reason };
}

async function markDone(
  deps: PipeDeps,
  req: DeliveryRequest,
  fd: number,
  rcpt: DeliveryRecipient,
): Promise<CommandOutcome> {
  try {
    await markRecipientDone(fd, rcpt.offset);
  } catch (err) {
    msg.warn(`${req.queueId}: mark recipient done: ${errText(err)}`);
    return {
      status: 'deferred',
      dsn: '4.3.0',
      reason: 'error writing message file',
    };
  }
  const reason = `delivered via ${deps.service} service`;
  return { status: 'sent', dsn: '2.0.0', reason };
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
