// The anvil protocol on one client stream (attr0 lists, Postfix's names:
// request=connect|disconnect|message|recipient|lookup, ident=service:addr),
// and the periodic "statistics:" log lines. Used by anvil.ts and by tests
// that run anvil in-process. Limits: newtls and auth requests are refused
// with status=-1, as an anvil without those counters.

import type { Socket } from 'node:net';
import { AttrStream, Attrs, AttrInput, IpcError } from '../../packages/ipc/ipc';
import { msg, printable } from '../../packages/log/log';
import { AnvilTable, Maximum, MaximumName } from './anvil_table';

export const ANVIL_STAT = { OK: 0, FAIL: -1 } as const;

type RequestHandler = (
  table: AnvilTable,
  ident: string,
  open: string[],
) => AttrInput;

// XXX no newtls, newtls_report or auth requests: smtpd has no TLS and no
// SASL yet, so there is nothing to count; they get status=-1.
const HANDLERS: Record<string, RequestHandler> = {
  connect: (table, ident, open) => {
    open.push(ident);
    const { count, rate } = table.connect(ident);
    return { status: ANVIL_STAT.OK, count, rate };
  },
  disconnect: (table, ident, open) => {
    const at = open.indexOf(ident);
    if (at >= 0) {
      open.splice(at, 1);
      table.disconnect(ident);
    }
    return { status: ANVIL_STAT.OK };
  },
  message: (table, ident) => ({
    status: ANVIL_STAT.OK,
    rate: table.event(ident, 'message'),
  }),
  recipient: (table, ident) => ({
    status: ANVIL_STAT.OK,
    rate: table.event(ident, 'recipient'),
  }),
  lookup: (table, ident) => lookupReply(table, ident),
};

function lookupReply(table: AnvilTable, ident: string): AttrInput {
  const entry = table.lookup(ident);
  return {
    status: ANVIL_STAT.OK,
    count: entry?.count ?? 0,
    rate: entry?.connect.count ?? 0,
    mail: entry?.message.count ?? 0,
    rcpt: entry?.recipient.count ?? 0,
  };
}

// One client (an smtpd process) until it goes away. Connections it
// reported and never closed are closed for it then, so a crashed smtpd
// does not leave its clients counted forever.
export async function handleAnvilClient(
  socket: Socket,
  table: AnvilTable,
): Promise<void> {
  const stream = AttrStream.fromSocket(socket);
  const open: string[] = [];
  stream.writeAttrs({ protocol: 'anvil_protocol' });
  try {
    for (;;) stream.writeAttrs(answer(table, await stream.readAttrs(), open));
  } catch (err) {
    if (!(err instanceof IpcError)) throw err;
  } finally {
    for (const ident of open) table.disconnect(ident);
    socket.destroy();
  }
}

function answer(table: AnvilTable, req: Attrs, open: string[]): AttrInput {
  const handler = HANDLERS[req.request ?? ''];
  if (!handler || !req.ident) {
    const what = printable(req.request ?? '', 50);
    msg.warn(`anvil: unrecognized request: "${what}", ignored`);
    return { status: ANVIL_STAT.FAIL };
  }
  return handler(table, req.ident, open);
}

const STAT_TEXT: Record<MaximumName, (m: Maximum, unit: number) => string> = {
  rate: (m, unit) => `max connection rate ${m.value}/${unit}s`,
  count: (m) => `max connection count ${m.value}`,
  message: (m, unit) => `max message rate ${m.value}/${unit}s`,
  recipient: (m, unit) => `max recipient rate ${m.value}/${unit}s`,
};

const ORDER: MaximumName[] = ['rate', 'count', 'message', 'recipient'];

// Postfix's "statistics:" lines for the maxima since the last report;
// nothing when there was no client.
export function logStatistics(table: AnvilTable): void {
  const { maxima, cache } = table.takeMaxima();
  const byName = new Map(maxima);
  for (const name of ORDER) {
    const m = byName.get(name);
    if (!m) continue;
    const text = STAT_TEXT[name](m, table.unitSeconds);
    msg.info(`statistics: ${text} for (${m.ident}) at ${ctime15(m.when)}`);
  }
  if (cache.value > 0)
    msg.info(
      `statistics: max cache size ${cache.value} at ${ctime15(cache.when)}`,
    );
}

const MONTHS = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');

// The first 15 characters of ctime(3): "Dec  3 11:06:51".
export function ctime15(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  const day = String(d.getDate()).padStart(2, ' ');
  const time = [d.getHours(), d.getMinutes(), d.getSeconds()]
    .map(pad)
    .join(':');
  return `${MONTHS[d.getMonth()]} ${day} ${time}`;
}
