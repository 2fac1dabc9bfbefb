// The shared connection cache (master.cf "scache unix - - n - 1 scache"),
// Postfix's scache(8): idle smtp/lmtp sessions for every smtp process,
// requests and sockets relayed by master over the fork channel; master's
// connection on private/scache keeps us running. Logs the "statistics:"
// lines every connection_cache_status_update_time and at exit.

import * as net from 'node:net';
import { runDaemon, type DaemonContext } from '../../packages/daemon/daemon';
import { msg } from '../../packages/log/log';
import {
  isScacheMessage,
  SCACHE_REQ,
  SCACHE_STAT,
  type ScacheMessage,
} from '../../packages/ipc/scache_proto';
import { ScacheStore, type ScacheStats } from './scache_store';

const store = new ScacheStore();
const links = new Set<net.Socket>(); // master's connections to us
let ttlLimitMs = 2000;
let intervalStart = new Date();

function send(m: ScacheMessage, socket?: net.Socket): void {
  if (!process.connected) {
    socket?.destroy();
    return;
  }
  const done = (err: Error | null) => {
    if (err) socket?.destroy();
  };
  if (socket) process.send!(m, socket, { keepOpen: false }, done);
  else process.send!(m, done);
}

// Postfix caps each time to live at connection_cache_ttl_limit.
function ttlOf(m: { ttl: number }): number {
  const ms = Math.max(0, Number(m.ttl) || 0) * 1000;
  return Math.min(ms, ttlLimitMs);
}

type Handler = (m: ScacheMessage, socket?: net.Socket) => void;

const HANDLERS: Partial<Record<ScacheMessage['req'], Handler>> = {
  [SCACHE_REQ.SAVE_ENDP]: (m, socket) => {
    if (m.req !== SCACHE_REQ.SAVE_ENDP || !socket) return;
    store.saveEndp(m.label, socket, m.prop, ttlOf(m));
  },
  [SCACHE_REQ.SAVE_DEST]: (m) => {
    if (m.req !== SCACHE_REQ.SAVE_DEST) return;
    store.saveDest(m.label, m.endp, ttlOf(m));
  },
  [SCACHE_REQ.FIND_ENDP]: (m) => {
    if (m.req !== SCACHE_REQ.FIND_ENDP) return;
    answer(m.id, m.pid, store.findEndp(m.label));
  },
  [SCACHE_REQ.FIND_DEST]: (m) => {
    if (m.req !== SCACHE_REQ.FIND_DEST) return;
    answer(m.id, m.pid, store.findDest(m.label));
  },
};

function answer(
  id: number,
  pid: number | undefined,
  found: ReturnType<ScacheStore['findEndp']>,
): void {
  const base = { t: 'scache', req: SCACHE_REQ.REPLY, id, pid } as const;
  if (!found) {
    send({ ...base, status: SCACHE_STAT.FAIL });
    return;
  }
  const { endp, prop, socket } = found;
  send({ ...base, status: SCACHE_STAT.OK, endp, prop }, socket);
}

function onMessage(m: unknown, handle?: unknown): void {
  if ((m as { t?: string })?.t === 'stop') {
    for (const link of links) link.destroy(); // lets the skeleton exit
    return;
  }
  if (!isScacheMessage(m)) return;
  const socket = handle instanceof net.Socket ? handle : undefined;
  const handler = HANDLERS[m.req];
  if (handler) handler(m, socket);
  else socket?.destroy();
}

// Postfix's date in these lines: "Dec  3 12:45:14".
function logDate(d: Date): string {
  const month = d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const day = String(d.getUTCDate()).padStart(2, ' ');
  return `${month} ${day} ${d.toISOString().slice(11, 19)}`;
}

function percent(hits: number, misses: number): number {
  const all = hits + misses;
  return all ? Math.round((100 * hits) / all) : 0;
}

export function statisticsLines(stats: ScacheStats, start: Date): string[] {
  const s = stats;
  return [
    `statistics: start interval ${logDate(start)}`,
    `statistics: domain lookup hits=${s.destHits} miss=${s.destMisses} success=${percent(s.destHits, s.destMisses)}%`,
    `statistics: address lookup hits=${s.endpHits} miss=${s.endpMisses} success=${percent(s.endpHits, s.endpMisses)}%`,
    `statistics: max simultaneous domains=${s.maxDests} addresses=${s.maxEndps} connection=${s.maxSessions}`,
  ];
}

// Postfix logs only intervals that saw requests.
function logStatistics(): void {
  const stats = store.takeStats();
  const start = intervalStart;
  intervalStart = new Date();
  if (stats.destHits + stats.destMisses + stats.endpHits + stats.endpMisses)
    for (const line of statisticsLines(stats, start)) msg.info(line);
}

function init(ctx: DaemonContext): void {
  ttlLimitMs = ctx.config.time('connection_cache_ttl_limit') * 1000;
  const every = ctx.config.time('connection_cache_status_update_time');
  if (every > 0) setInterval(logStatistics, every * 1000).unref();
  process.on('message', onMessage);
  send({ t: 'scache', req: SCACHE_REQ.READY });
}

function onConnection(socket: net.Socket): void {
  links.add(socket);
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  socket.on('close', () => links.delete(socket));
}

if (require.main === module)
  runDaemon({
    name: 'scache',
    kind: 'stream',
    init,
    onConnection,
    onStop: () => {
      logStatistics();
      store.closeAll();
    },
  });
