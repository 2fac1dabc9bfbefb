// Tests for smtpd_hosts.ts: the client name from real hosts and
// nsswitch files and a DNS server on loopback, as getnameinfo would give.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DnsSink } from '../../test/sink/dns_sink';
import {
  HostsResolver,
  canonicalAddress,
  filesThenDns,
  parseHosts,
} from './smtpd_hosts';

function files(hosts: string, nsswitch: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtpd-hosts-'));
  const hostsPath = path.join(dir, 'hosts');
  const nsswitchPath = path.join(dir, 'nsswitch.conf');
  fs.writeFileSync(hostsPath, hosts);
  fs.writeFileSync(nsswitchPath, nsswitch);
  return { dir, hostsPath, nsswitchPath };
}

test('only "hosts: files dns" takes the fast path', () => {
  assert.equal(
    filesThenDns('passwd: files\nhosts:          files dns\n'),
    true,
  );
  assert.equal(filesThenDns('hosts: files dns # the default\n'), true);
  assert.equal(
    filesThenDns('hosts: files mdns4_minimal [NOTFOUND=return] dns\n'),
    false,
  );
  assert.equal(filesThenDns('hosts: files dns myhostname\n'), false);
  assert.equal(filesThenDns('hosts: dns files\n'), false);
  assert.equal(filesThenDns('# hosts: files dns\npasswd: files\n'), false);
  assert.equal(filesThenDns(''), false);
});

test('the hosts table: first name of the first line, every name forward', () => {
  const t = parseHosts(
    '127.0.0.1 localhost\n127.0.0.1 vm\n# 10.0.0.9 gone\n' +
      '::1 ip6-localhost ip6-loopback\n10.1.2.3 Mail.Example.TEST mail\n',
  );
  assert.equal(t.nameOf.get('127.0.0.1'), 'localhost');
  assert.equal(t.nameOf.get('::1'), 'ip6-localhost');
  assert.equal(t.nameOf.has('10.0.0.9'), false);
  assert.deepEqual(
    [...(t.addrsOf.get('mail.example.test') ?? [])],
    ['10.1.2.3'],
  );
  assert.deepEqual([...(t.addrsOf.get('vm') ?? [])], ['127.0.0.1']);
});

test('addresses compare in one spelling', () => {
  assert.equal(canonicalAddress('::FFFF:192.0.2.1'), '192.0.2.1');
  assert.equal(canonicalAddress('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  assert.equal(canonicalAddress('192.0.2.1'), '192.0.2.1');
});

test('names from the hosts file, then DNS, each confirmed forward', async (t) => {
  const dns = new DnsSink({
    '5.2.0.192.in-addr.arpa': { PTR: ['host.dns.test'] },
    'host.dns.test': { A: ['192.0.2.5'] },
    '6.2.0.192.in-addr.arpa': { PTR: ['liar.dns.test'] },
    'liar.dns.test': { A: ['192.0.2.99'] },
    '7.2.0.192.in-addr.arpa': { PTR: ['listed.test'] },
  });
  const server = await dns.listen();
  const f = files(
    '127.0.0.1 localhost\n10.9.9.9 nowhere.test\n192.0.2.50 listed.test\n',
    'hosts: files dns\n',
  );
  t.after(async () => {
    await dns.close();
    fs.rmSync(f.dir, { recursive: true, force: true });
  });
  const r = new HostsResolver(2000, f.hostsPath, f.nsswitchPath, server);
  assert.equal(r.usable, true);
  assert.equal(await r.verifiedName('127.0.0.1'), 'localhost');
  assert.equal(await r.verifiedName('::ffff:127.0.0.1'), 'localhost');
  assert.equal(await r.verifiedName('192.0.2.5'), 'host.dns.test');
  // A PTR whose name has another address is not the client's name.
  assert.equal(await r.verifiedName('192.0.2.6'), null);
  // The hosts file answers alone for a name it lists, as glibc's files.
  assert.equal(await r.verifiedName('192.0.2.7'), null);
  // No PTR at all.
  assert.equal(await r.verifiedName('192.0.2.8'), null);
  assert.ok(!dns.queries.some((q) => q.startsWith('localhost')));
  assert.ok(dns.queries.includes('host.dns.test/1'));
});

test('another nsswitch line leaves the lookup to the system', (t) => {
  const f = files('127.0.0.1 localhost\n', 'hosts: files myhostname dns\n');
  t.after(() => fs.rmSync(f.dir, { recursive: true, force: true }));
  assert.equal(
    new HostsResolver(1000, f.hostsPath, f.nsswitchPath).usable,
    false,
  );
});
