// The builtins (SPEC §2, RFC 862–868) served by the real daemon over tcp and
// udp, byte for byte; the udp rules that keep superd from being a reflector;
// and chargen to a client that never reads, while everyone else is served
// (what that costs superd in memory is measured by `npm run bench`).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chargenBytes, chargenLine } from '../src/builtins/chargen.js';
import { connectClient, exchange } from './helpers/clients.js';
import { serviceStatus, servicesForSuite } from './helpers/daemon.js';
import { createConnection, type Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import { udpExchange } from './helpers/udp.js';
import { eventually } from './helpers/wait.js';

const isRoot = process.getuid?.() === 0;
const SECONDS_1900_TO_1970 = 2208988800;

const SERVICES: Record<string, Record<string, string>> = {};
for (const name of ['echo', 'discard', 'chargen', 'daytime', 'time']) {
  SERVICES[`${name}_tcp`] = { protocol: 'tcp', bind: '127.0.0.1', builtin: name };
  SERVICES[`${name}_udp`] = { protocol: 'udp', bind: '127.0.0.1', builtin: name };
}
SERVICES.cat = { protocol: 'tcp', bind: '127.0.0.1', server: '/bin/cat' };

/** RFC 868 seconds now, as the client's clock sees it. */
const rfc868Now = (): number => (Math.floor(Date.now() / 1000) + SECONDS_1900_TO_1970) % 2 ** 32;
const DAYTIME = /^(Sunday|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday), (January|February|March|April|May|June|July|August|September|October|November|December) \d{2}, \d{4} \d{2}:\d{2}:\d{2}-UTC\r\n$/;

describe('serve: builtins over tcp and udp', () => {
  const suite = servicesForSuite(SERVICES);
  const p = (name: string): number => suite.port[name] ?? assert.fail(`no port for ${name}`);

  test('echo/tcp sends back every byte, then closes after the client half-closes', async () => {
    const payload = Buffer.alloc(300_000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + 3) & 0xff;
    const r = await exchange(p('echo_tcp'), payload, { timeoutMs: 10000 });
    assert.equal(r.how, 'end');
    assert.ok(r.data.equals(payload), `echoed ${r.data.length} bytes of ${payload.length}`);
    const exited = await suite.d.waitFor((x) => x.event === 'exited' && x.service === 'echo_tcp', 'echo exited');
    assert.equal(exited.builtin, 'echo');
    assert.equal(exited.pid, undefined, 'a builtin has no pid of its own');
    const accepted = suite.d.logs.find((x) => x.event === 'accepted' && x.service === 'echo_tcp');
    assert.equal(accepted?.remote, '127.0.0.1');
  });

  test('discard/tcp reads everything and sends nothing', async () => {
    const r = await exchange(p('discard_tcp'), Buffer.alloc(100_000, 0x61), { timeoutMs: 10000 });
    assert.equal(r.how, 'end');
    assert.equal(r.data.length, 0);
  });

  test('daytime/tcp is one line in UTC ending in CRLF', async () => {
    const r = await exchange(p('daytime_tcp'), '', { timeoutMs: 5000 });
    assert.match(r.data.toString('latin1'), DAYTIME);
  });

  test('time/tcp is 4 bytes: seconds since 1900, big-endian', async () => {
    const r = await exchange(p('time_tcp'), '', { timeoutMs: 5000 });
    assert.equal(r.data.length, 4);
    assert.ok(Math.abs(r.data.readUInt32BE(0) - rfc868Now()) <= 2, `time ${r.data.readUInt32BE(0)} vs ${rfc868Now()}`);
  });

  test('chargen/tcp: the RFC 864 ring of 72-character lines, each starting one later', async () => {
    const c = await connectClient(p('chargen_tcp'));
    await c.waitForBytes(74 * 200, 5000);
    const got = c.received().subarray(0, 74 * 200);
    c.destroy();
    assert.ok(got.equals(chargenBytes(0, 74 * 200)), 'the stream is the ring from its start');
    assert.equal(got.subarray(0, 74).toString('latin1'), chargenLine(0));
    assert.equal(chargenLine(0), `${' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg'}\r\n`);
  });

  test('echo/udp answers each datagram with its own bytes', async () => {
    for (const text of ['one', 'two two', 'x'.repeat(1000)]) {
      const reply = await udpExchange(p('echo_udp'), Buffer.from(text));
      assert.equal(reply?.toString(), text);
    }
    const answered = await suite.d.waitFor((x) => x.event === 'answered' && x.service === 'echo_udp', 'answered');
    assert.equal(answered.remote, '127.0.0.1');
    assert.equal(answered.builtin, 'echo');
  });

  test('discard/udp never answers; chargen/daytime/time/udp answer any datagram (chargen: one line)', async () => {
    assert.equal(await udpExchange(p('discard_udp'), Buffer.from('x'), { timeoutMs: 300 }), null);
    const chargen = await udpExchange(p('chargen_udp'), Buffer.from('x'));
    assert.equal(chargen?.length, 74, 'one line of the ring');
    assert.ok(Array.from({ length: 95 }, (_, i) => chargenLine(i)).includes(chargen.toString('latin1')));
    const daytime = await udpExchange(p('daytime_udp'), Buffer.alloc(0));
    assert.match(daytime?.toString('latin1') ?? '', DAYTIME);
    const time = await udpExchange(p('time_udp'), Buffer.from('?'));
    assert.equal(time?.length, 4);
    assert.ok(Math.abs((time?.readUInt32BE(0) ?? 0) - rfc868Now()) <= 2);
  });

  test('udp: no answer to a source port below 1024 (another inetd), and superd still answers others', { skip: isRoot ? false : 'binding a source port below 1024 needs root' }, async () => {
    for (const name of ['echo_udp', 'chargen_udp']) {
      const reply = await udpExchange(p(name), Buffer.from('ping'), { timeoutMs: 400, localPort: 1000 + Math.floor(Math.random() * 23) });
      assert.equal(reply, null, `${name} must not answer a low source port`);
    }
    assert.equal((await udpExchange(p('echo_udp'), Buffer.from('still here')))?.toString(), 'still here');
    // Counted in `superd status` (logged at debug only).
    const st = await serviceStatus(suite.d, 'echo_udp');
    assert.ok((st.refused.reflection ?? 0) >= 1, 'the refused request is counted');
  });

  test('chargen/tcp to a client that never reads: others still served, and each chargen connection ends when its client goes', async () => {
    const chargen = p('chargen_tcp');
    const sleepers = await Promise.all(Array.from({ length: 4 }, () => neverReads(chargen)));
    const clientPorts = sleepers.map((s) => s.localPort ?? 0);
    try {
      // Stalled: bytes the client does not read pile up on its side, and superd's side has more waiting to be sent.
      for (const client of clientPorts) {
        let seen = '';
        const stalled = await eventually(async () => {
          const [mine, superds] = [await tcpQueues(client, chargen), await tcpQueues(chargen, client)];
          seen = JSON.stringify({ client: mine, superd: superds });
          return mine !== null && superds !== null && mine.rx > 0 && superds.tx > 0;
        }, 10000);
        assert.ok(stalled, `the chargen connection from port ${client} is stalled: ${seen}`);
      }
      const r = await exchange(p('cat'), 'still served\n', { timeoutMs: 5000 });
      assert.equal(r.data.toString(), 'still served\n');
    } finally {
      for (const s of sleepers) s.destroy();
    }
    // These four connections, whatever other tests did: each ends (`exited`, by its client's port).
    const ended = (): number[] => clientPorts.filter((port) => suite.d.logs.some((x) => x.event === 'exited' && x.service === 'chargen_tcp' && x.remote_port === port));
    assert.ok(await eventually(() => ended().length === clientPorts.length, 15000), `chargen connections ended: ${ended().join(' ')} of ${clientPorts.join(' ')}`);
  });
});

/** A client that connects and then never reads a byte. */
function neverReads(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => reject(new Error('connect timed out')), 5000);
    sock.on('error', () => undefined);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.pause();
      resolve(sock);
    });
  });
}

/**
 * The send and receive queues (bytes) of the IPv4 TCP socket on 127.0.0.1
 * from localPort to remotePort, from /proc/net/tcp; null when there is none.
 * (Addresses there are the host's byte order: 127.0.0.1 is 0100007F on the
 * little-endian machines superd supports.)
 */
async function tcpQueues(localPort: number, remotePort: number): Promise<{ tx: number; rx: number } | null> {
  const at = (port: number): string => `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of (await readFile('/proc/net/tcp', 'utf8')).split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] !== at(localPort) || fields[2] !== at(remotePort)) continue;
    const [tx, rx] = (fields[4] ?? '').split(':').map((h) => Number.parseInt(h, 16));
    return { tx: tx ?? 0, rx: rx ?? 0 };
  }
  return null;
}
