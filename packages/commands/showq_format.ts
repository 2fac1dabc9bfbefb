// The mailq listing to the byte as Postfix's showq_compat prints it
// (short and long queue ID layouts, status characters, reasons only when
// they change, the Kbytes footer), and postqueue -j's JSON lines. Used
// by postqueue.ts. Limits: no 3.11 orig_address/bounce_reason in -j.

import { DAYS, MONTHS } from '../util/mail_date';
import type { ShowqEntry } from '../../services/showq/showq_queue';

interface Layout {
  id: number;
  size: number;
  time: number; // width of the arrival time (precision too)
  heading: [string, string, string, string];
}

const SHORT: Layout = {
  id: 11,
  size: 7,
  time: 20,
  heading: [
    '-Queue ID-',
    '--Size--',
    '----Arrival Time----',
    '-Sender/Recipient-------',
  ],
};
const LONG: Layout = {
  id: 17,
  size: 8,
  time: 19,
  heading: [
    '----Queue ID-----',
    '--Size--',
    '---Arrival Time----',
    '--Sender/Recipient------',
  ],
};

const REASON_WIDTH = 76;

// asctime(3) in local time: "Mon Jan  1 12:00:00 2024".
export function asctime(sec: number): string {
  const d = new Date(sec * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2)} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`
  );
}

function statusChars(e: ShowqEntry): string {
  let s = '';
  if (e.queueName === 'active') s += '*';
  if (e.queueName === 'hold') s += '!';
  if (e.forcedExpire) s += '#';
  return s;
}

// printf("%-Ns") and ("%Ns"), and "%N.Ns" which also cuts.
const left = (s: string, n: number) => s.padEnd(n);
const right = (s: string, n: number) => s.padStart(n);

export function mailqHeading(layout: Layout): string {
  const [a, b, c, d] = layout.heading;
  return `${left(a, layout.id)} ${right(b, layout.size)} ${left(c, layout.time)} ${d}\n`;
}

export function formatEntry(e: ShowqEntry, layout: Layout): string {
  const id = e.queueId + statusChars(e);
  const time = asctime(e.arrivalTime).slice(0, layout.time);
  const sender = e.sender === '' ? 'MAILER-DAEMON' : e.sender;
  let out = `${left(id, layout.id)} ${right(String(e.size), layout.size)} ${right(time, layout.time)} ${sender}\n`;
  const pad = ' '.repeat(layout.id + layout.size + layout.time + 3);
  let last = '';
  for (const r of e.recipients) {
    if (r.reason !== last) {
      const reason = r.reason || 'reason unavailable';
      out += `${' '.repeat(Math.max(0, REASON_WIDTH - reason.length))}(${reason})\n`;
      last = r.reason;
    }
    out += `${pad}${r.address}\n`;
  }
  return out;
}

// The whole listing from a stream of entries, written as it comes.
export async function writeMailq(
  entries: AsyncIterable<ShowqEntry>,
  longIds: boolean,
  write: (s: string) => void,
): Promise<void> {
  const layout = longIds ? LONG : SHORT;
  let count = 0;
  let bytes = 0;
  for await (const e of entries) {
    write(count === 0 ? mailqHeading(layout) : '\n');
    write(formatEntry(e, layout));
    count++;
    bytes += e.size;
  }
  if (count === 0) return write('Mail queue is empty\n');
  const plural = count === 1 ? '' : 's';
  write(
    `\n-- ${Math.floor(bytes / 1024)} Kbytes in ${count} Request${plural}.\n`,
  );
}

// JSON Lines in Postfix's key order and spacing.
export function formatJson(e: ShowqEntry): string {
  const q = (s: string) => JSON.stringify(s);
  const rcpts = e.recipients.map((r) => {
    const reason = r.reason ? `, "delay_reason": ${q(r.reason)}` : '';
    return `{"address": ${q(r.address)}${reason}}`;
  });
  return (
    `{"queue_name": ${q(e.queueName)}, "queue_id": ${q(e.queueId)}, ` +
    `"arrival_time": ${e.arrivalTime}, "message_size": ${e.size}, ` +
    `"forced_expire": ${e.forcedExpire}, "sender": ${q(e.sender)}, ` +
    `"recipients": [${rcpts.join(', ')}]}\n`
  );
}
