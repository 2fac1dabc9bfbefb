// A small authoritative DNS server on UDP loopback for the smtp client's
// lookup tests (smtp_dns_resolver_address points at it): answers MX, A,
// AAAA and PTR from a table, NXDOMAIN for names it lacks and SERVFAIL where
// a test asks. No compression, no TCP, no EDNS: test use only.

import * as dgram from 'node:dgram';
import * as net from 'node:net';

export interface ZoneEntry {
  MX?: Array<[number, string]>;
  A?: string[];
  AAAA?: string[];
  PTR?: string[]; // under the name 4.3.2.1.in-addr.arpa
  servfail?: boolean;
}

export type Zone = Record<string, ZoneEntry>;

const TYPE = { A: 1, PTR: 12, MX: 15, AAAA: 28 } as const;
const RCODE = { OK: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter(Boolean);
  const bytes = parts.map((p) =>
    Buffer.concat([Buffer.from([p.length]), Buffer.from(p)]),
  );
  return Buffer.concat([...bytes, Buffer.from([0])]);
}

function readQuestion(msg: Buffer): {
  name: string;
  type: number;
  end: number;
} {
  const labels: string[] = [];
  let at = 12;
  while (msg[at] !== 0) {
    labels.push(msg.subarray(at + 1, at + 1 + msg[at]).toString());
    at += msg[at] + 1;
  }
  return {
    name: labels.join('.').toLowerCase(),
    type: msg.readUInt16BE(at + 1),
    end: at + 5,
  };
}

function rdata(type: number, entry: ZoneEntry): Buffer[] {
  if (type === TYPE.MX)
    return (entry.MX ?? []).map(([pref, host]) => {
      const p = Buffer.alloc(2);
      p.writeUInt16BE(pref);
      return Buffer.concat([p, encodeName(host)]);
    });
  if (type === TYPE.A)
    return (entry.A ?? []).map((a) => Buffer.from(a.split('.').map(Number)));
  if (type === TYPE.AAAA) return (entry.AAAA ?? []).map(ipv6Bytes);
  if (type === TYPE.PTR) return (entry.PTR ?? []).map(encodeName);
  return [];
}

function ipv6Bytes(addr: string): Buffer {
  const sock = new net.SocketAddress({ address: addr, family: 'ipv6' });
  const [head, tail = ''] = sock.address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.from(
    groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 255]),
  );
}

function answer(msg: Buffer, zone: Zone): Buffer {
  const q = readQuestion(msg);
  const entry = zone[q.name];
  const rcode = !entry
    ? RCODE.NXDOMAIN
    : entry.servfail
      ? RCODE.SERVFAIL
      : RCODE.OK;
  const records = entry && !entry.servfail ? rdata(q.type, entry) : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(msg.readUInt16BE(0), 0);
  header.writeUInt16BE(0x8000 | 0x0400 | ((msg[2] & 1) << 8) | 0x80 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  const question = msg.subarray(12, q.end);
  const rrs = records.map((data) => {
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(q.type, 0);
    fixed.writeUInt16BE(1, 2);
    fixed.writeUInt32BE(60, 4);
    fixed.writeUInt16BE(data.length, 8);
    return Buffer.concat([encodeName(q.name), fixed, data]);
  });
  return Buffer.concat([header, question, ...rrs]);
}

export class DnsSink {
  readonly #socket = dgram.createSocket('udp4');
  readonly zone: Zone;
  readonly queries: string[] = [];
  port = 0;

  constructor(zone: Zone) {
    this.zone = zone;
    this.#socket.on('message', (msg, from) => {
      try {
        const q = readQuestion(msg);
        this.queries.push(`${q.name}/${q.type}`);
        this.#socket.send(answer(msg, this.zone), from.port, from.address);
      } catch {
        // A query we cannot read gets no answer, as from a lossy network.
      }
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.#socket.bind(0, '127.0.0.1', r));
    this.port = this.#socket.address().port;
    return `127.0.0.1:${this.port}`;
  }

  close(): Promise<void> {
    return new Promise((r) => this.#socket.close(() => r()));
  }
}
