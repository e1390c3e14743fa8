// Which udp sources a builtin answers (SPEC §2), rule by rule, without
// sockets: datagramRefusal takes the source and what is known of the socket,
// of superd and of the host as arguments. Also the address scanner under it,
// the socket facts made from a bind address, and the host facts kept for the
// whole process (listen/udpfacts.ts).
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import type { NetworkInterfaceInfo } from 'node:os';
import { describe, test } from 'node:test';
import { hostFacts, subnetBroadcasts } from '../src/listen/udpfacts.js';
import { datagramRefusal, datagramSocket, type DatagramContext } from '../src/policy/datagram.js';
import { ipv4Value, ipv6Groups } from '../src/policy/ipaddr.js';

interface Facts {
  ipv4?: boolean;
  loopback?: boolean;
  ports?: number[];
  broadcasts?: string[];
  localnetFromOutside?: boolean;
}

/** A context: by default a dual-stack wildcard socket, no other builtin, no broadcasts known, route_localnet off. */
function ctx(f: Facts = {}): DatagramContext {
  return {
    socket: { ipv4: f.ipv4 ?? true, loopback: f.loopback ?? false },
    host: {
      builtinPorts: new Set(f.ports ?? []),
      broadcasts: new Set((f.broadcasts ?? []).map((a) => ipv4Value(a))),
      localnetFromOutside: f.localnetFromOutside ?? false,
    },
  };
}

const DUAL = ctx();
const V6ONLY = ctx({ ipv4: false });
const refusal = (address: string, port = 5000, c: DatagramContext = DUAL): string | null => datagramRefusal(address, port, c);

describe('datagramRefusal: ports', () => {
  test('answers unprivileged ports other than 2049 and superd’s own', () => {
    for (const port of [1024, 2048, 2050, 40000, 65535]) assert.equal(refusal('192.0.2.7', port), null, String(port));
  });
  test('refuses source ports below 1024, 0 included', () => {
    assert.equal(refusal('192.0.2.7', 0), 'source port 0 < 1024');
    assert.equal(refusal('192.0.2.7', 7), 'source port 7 < 1024');
    assert.equal(refusal('::1', 1023), 'source port 1023 < 1024');
  });
  test('refuses 2049 (NFS)', () => {
    assert.equal(refusal('192.0.2.7', 2049), 'source port 2049 (NFS)');
    assert.equal(refusal('2001:db8::5', 2049), 'source port 2049 (NFS)');
  });
  test('refuses every port on which superd serves a udp builtin, and only those', () => {
    const c = ctx({ ports: [7007, 13013] });
    assert.equal(refusal('192.0.2.7', 7007, c), "source port 7007 is one of superd's udp builtins");
    assert.equal(refusal('2001:db8::5', 13013, c), "source port 13013 is one of superd's udp builtins");
    assert.equal(refusal('192.0.2.7', 7008, c), null);
  });
  test('the set is read at each call: a reload that adds or removes a builtin changes the answer', () => {
    const ports = new Set<number>();
    const c: DatagramContext = { socket: { ipv4: true, loopback: false }, host: { builtinPorts: ports, broadcasts: new Set(), localnetFromOutside: false } };
    assert.equal(datagramRefusal('192.0.2.7', 9999, c), null);
    ports.add(9999);
    assert.match(datagramRefusal('192.0.2.7', 9999, c) ?? '', /superd's udp builtins/);
    ports.delete(9999);
    assert.equal(datagramRefusal('192.0.2.7', 9999, c), null);
  });
  test('refuses ports that are not ports', () => {
    for (const port of [-1, 65536, 1.5, Number.NaN]) assert.match(refusal('192.0.2.7', port) ?? '', /invalid source port/, String(port));
  });
  test('checks the port before the address', () => {
    assert.equal(refusal('224.0.0.1', 7), 'source port 7 < 1024');
    assert.equal(refusal('224.0.0.1', 2049), 'source port 2049 (NFS)');
  });
});

describe('datagramRefusal: IPv4', () => {
  test('answers ordinary unicast sources, up to the edges of the refused blocks', () => {
    for (const a of ['1.0.0.0', '192.0.2.7', '126.255.255.255', '128.0.0.0', '223.255.255.255', '240.0.0.0', '254.255.255.255']) {
      assert.equal(refusal(a), null, a);
    }
  });
  test('refuses 0.0.0.0/8', () => {
    for (const a of ['0.0.0.0', '0.0.0.1', '0.1.2.3', '0.255.255.255']) assert.equal(refusal(a), 'source in 0.0.0.0/8', a);
  });
  test('refuses 255.0.0.0/8, 255.255.255.255 as broadcast', () => {
    assert.equal(refusal('255.255.255.255'), 'broadcast source');
    for (const a of ['255.0.0.0', '255.1.2.3', '255.255.255.254']) assert.equal(refusal(a), 'source in 255.0.0.0/8', a);
  });
  test('refuses multicast, 224.0.0.0/4', () => {
    for (const a of ['224.0.0.0', '224.0.0.1', '232.1.2.3', '239.255.255.250', '239.255.255.255']) assert.equal(refusal(a), 'multicast source', a);
  });
  test('refuses the broadcast addresses of the host’s subnets', () => {
    const c = ctx({ broadcasts: ['192.0.2.255', '192.0.2.0', '10.255.255.255'] });
    assert.equal(refusal('192.0.2.255', 5000, c), 'broadcast source');
    assert.equal(refusal('192.0.2.0', 5000, c), 'broadcast source');
    assert.equal(refusal('10.255.255.255', 5000, c), 'broadcast source');
    assert.equal(refusal('::ffff:192.0.2.255', 5000, c), 'broadcast source');
    assert.equal(refusal('192.0.2.254', 5000, c), null);
    assert.equal(refusal('192.0.2.255', 5000, DUAL), null, 'another host’s subnet broadcast cannot be known');
  });
  test('127.0.0.0/8: answered where it can only have come over loopback', () => {
    const outside = { localnetFromOutside: true };
    for (const a of ['127.0.0.1', '127.0.0.2', '127.255.255.254']) {
      assert.equal(refusal(a, 5000, ctx({ loopback: true })), null, `${a} on a loopback socket`);
      assert.equal(refusal(a, 5000, ctx({ loopback: true, ...outside })), null, `${a} on a loopback socket, route_localnet on`);
      assert.equal(refusal(a, 5000, ctx()), null, `${a} on a wildcard socket, route_localnet off`);
      assert.match(refusal(a, 5000, ctx(outside)) ?? '', /^source in 127\.0\.0\.0\/8 .*route_localnet/, `${a} on a wildcard socket, route_localnet on`);
      assert.match(refusal(`::ffff:${a}`, 5000, ctx(outside)) ?? '', /^source in 127\.0\.0\.0\/8/, `::ffff:${a}`);
    }
    assert.equal(refusal('126.255.255.255', 5000, ctx(outside)), null);
    assert.equal(refusal('128.0.0.0', 5000, ctx(outside)), null);
  });
});

describe('datagramRefusal: v4-mapped sources', () => {
  test('on a dual-stack socket an IPv4 client is served by the IPv4 rules, in any spelling', () => {
    assert.equal(refusal('::ffff:10.0.0.1'), null);
    assert.equal(refusal('::ffff:192.0.2.7'), null);
    assert.equal(refusal('::ffff:255.255.255.255'), 'broadcast source');
    assert.equal(refusal('::ffff:224.0.0.251'), 'multicast source');
    assert.equal(refusal('::FFFF:0.0.0.0'), 'source in 0.0.0.0/8');
    assert.equal(refusal('::ffff:e000:fb'), 'multicast source');
    assert.equal(refusal('0:0:0:0:0:ffff:ffff:ffff'), 'broadcast source');
    assert.equal(refusal('0:0:0:0:0:FFFF:c000:207'), null);
  });
  test('on a socket that receives IPv6 only, a mapped source (or one shown as plain IPv4) is refused', () => {
    for (const a of ['::ffff:192.0.2.7', '::ffff:c000:207', '192.0.2.7', '::ffff:127.0.0.1']) {
      assert.equal(refusal(a, 5000, V6ONLY), 'v4-mapped source on an IPv6-only socket', a);
    }
    assert.equal(refusal('::ffff:127.0.0.1', 5000, ctx({ ipv4: false, loopback: true })), 'v4-mapped source on an IPv6-only socket');
    assert.equal(refusal('2001:db8::5', 5000, V6ONLY), null);
  });
});

describe('datagramRefusal: IPv6', () => {
  test('answers ordinary unicast sources, ::1 and link-local with a zone', () => {
    for (const a of ['::1', '2001:db8::5', 'fe80::1%eth0', 'feff::1', 'fd00::2', '1::', '::1:ffff:c000:207', '::fffe:c000:207']) {
      assert.equal(refusal(a, 5000, V6ONLY), null, a);
      assert.equal(refusal(a, 5000, DUAL), null, a);
    }
    assert.equal(refusal('::1', 5000, ctx({ ipv4: false, localnetFromOutside: true })), null, 'Linux drops ::1 from outside, whatever the settings');
  });
  test('refuses multicast, ff00::/8', () => {
    for (const a of ['ff00::', 'ff02::1', 'FF05::1:3', 'ff0e::1%eth0', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']) {
      assert.equal(refusal(a, 5000, V6ONLY), 'multicast source', a);
    }
  });
  test('refuses the unspecified address in any spelling', () => {
    for (const a of ['::', '0:0:0:0:0:0:0:0', '0::0', '::0.0.0.0']) assert.equal(refusal(a, 5000, V6ONLY), 'unspecified source', a);
  });
  test('refuses IPv4-compatible sources (::a.b.c.d), whatever IPv4 they name', () => {
    for (const a of ['::192.0.2.7', '::c000:207', '::2', '::ffff', '::1:0', '::0.0.0.2']) {
      assert.equal(refusal(a, 5000, V6ONLY), 'v4-compatible source', a);
      assert.equal(refusal(a, 5000, DUAL), 'v4-compatible source', a);
    }
  });
});

describe('datagramRefusal: what is not an address', () => {
  test('is refused, saying so', () => {
    for (const bad of ['', 'localhost', '1.2.3', '1.2.3.256', '1.2.3.4.5', '1..2.3', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::1', '::ffff:1.2.3', ':1', '1:', ':::', '1:2:3:4:5:6:7::8:9', '::1.2.3.4:5', 'g::1']) {
      assert.match(refusal(bad) ?? '', /unparseable source address/, JSON.stringify(bad));
    }
  });
});

describe('the address scanner', () => {
  const groups = (text: string): number[] | null => {
    const out = new Uint16Array(8);
    return ipv6Groups(text, out) ? [...out] : null;
  };
  test('ipv4Value: dotted quads to 32-bit numbers', () => {
    assert.equal(ipv4Value('0.0.0.0'), 0);
    assert.equal(ipv4Value('255.255.255.255'), 0xffffffff);
    assert.equal(ipv4Value('192.0.2.1'), 0xc0000201);
    assert.equal(ipv4Value('x192.0.2.1', 1), 0xc0000201);
    for (const bad of ['', '1.2.3', '1.2.3.4.', '.1.2.3', '256.0.0.1', '1.2.3.1000', '1.2.3.-1', '1.2.3.4 ']) assert.equal(ipv4Value(bad), -1, bad);
  });
  test('ipv6Groups: every spelling of the same address gives the same groups', () => {
    assert.deepEqual(groups('2001:db8::1'), [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(groups('2001:DB8:0:0:0:0:0:1'), [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(groups('::'), [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(groups('1::'), [1, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(groups('::ffff:1.2.3.4'), [0, 0, 0, 0, 0, 0xffff, 0x102, 0x304]);
    assert.deepEqual(groups('1:2:3:4:5:6:1.2.3.4'), [1, 2, 3, 4, 5, 6, 0x102, 0x304]);
    assert.deepEqual(groups('fe80::1%eth0'), [0xfe80, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(groups('1:2:3::6:7:8'), [1, 2, 3, 0, 0, 6, 7, 8]);
    assert.equal(groups('1:2:3:4:5:6:7::8'), null, ':: must stand for at least one group');
    assert.equal(groups('1:2:3:4:5:6:7:1.2.3.4'), null);
  });
});

describe('datagramSocket: what a bound socket can receive', () => {
  test('IPv4 binds', () => {
    assert.deepEqual(datagramSocket('127.0.0.1', false), { ipv4: true, loopback: true });
    assert.deepEqual(datagramSocket('127.0.0.2', false), { ipv4: true, loopback: true });
    assert.deepEqual(datagramSocket('0.0.0.0', false), { ipv4: true, loopback: false });
    assert.deepEqual(datagramSocket('192.0.2.2', false), { ipv4: true, loopback: false });
  });
  test('IPv6 binds: only `::` without IPv6-only (or a mapped address) receives IPv4', () => {
    assert.deepEqual(datagramSocket('::', false), { ipv4: true, loopback: false });
    assert.deepEqual(datagramSocket('::', true), { ipv4: false, loopback: false });
    assert.deepEqual(datagramSocket('::1', false), { ipv4: false, loopback: true });
    assert.deepEqual(datagramSocket('::1', true), { ipv4: false, loopback: true });
    assert.deepEqual(datagramSocket('2001:db8::1', false), { ipv4: false, loopback: false });
    assert.deepEqual(datagramSocket('fe80::1%lo', false), { ipv4: false, loopback: false });
    assert.deepEqual(datagramSocket('::ffff:127.0.0.1', false), { ipv4: true, loopback: true });
    assert.deepEqual(datagramSocket('::ffff:192.0.2.2', false), { ipv4: true, loopback: false });
  });
});

describe('host facts', () => {
  const iface = (address: string, netmask: string): NetworkInterfaceInfo => ({
    address,
    netmask,
    family: 'IPv4',
    mac: '00:00:00:00:00:00',
    internal: false,
    cidr: null,
  });
  test('subnet broadcasts: the all-ones and all-zeros hosts of each IPv4 subnet; none for /31, /32 or IPv6', () => {
    const found = subnetBroadcasts({
      lo: [iface('127.0.0.1', '255.0.0.0')],
      eth0: [
        iface('192.0.2.2', '255.255.255.0'),
        iface('198.51.100.9', '255.255.255.254'),
        iface('203.0.113.7', '255.255.255.255'),
        { address: 'fd00::2', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '00:00:00:00:00:00', internal: false, cidr: null, scopeid: 0 },
      ],
      eth1: [iface('10.1.2.3', '255.255.240.0')],
    });
    const expected = ['127.0.0.0', '127.255.255.255', '192.0.2.0', '192.0.2.255', '10.1.0.0', '10.1.15.255'].map((a) => ipv4Value(a));
    assert.deepEqual([...found].sort(), expected.sort());
  });
  test('the ports of superd’s udp builtins are counted per listener', () => {
    const ports = hostFacts.builtinPorts;
    ports.add(7007);
    ports.add(7007);
    ports.remove(7007);
    assert.ok(ports.has(7007), 'one listener on 7007 is still open');
    ports.remove(7007);
    assert.ok(!ports.has(7007));
  });
  test('route_localnet is read as the kernel applies it (all, or any interface but lo)', async () => {
    await hostFacts.refresh();
    const dir = '/proc/sys/net/ipv4/conf';
    const names = (await readdir(dir)).filter((n) => n !== 'lo' && n !== 'default');
    const on = await Promise.all(names.map(async (n) => (await readFile(`${dir}/${n}/route_localnet`, 'utf8').catch(() => '0')).trim() !== '0'));
    assert.equal(hostFacts.localnetFromOutside, on.some(Boolean));
  });
});
