// The builtins (SPEC §2, RFC 862–868) served by the real daemon over tcp and
// udp, byte for byte; the udp rules that keep superd from being a reflector;
// and chargen to a client that never reads, which must cost superd bounded
// memory while everyone else is served.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chargenBytes, chargenLine } from '../src/builtins/chargen.js';
import { connectClient, exchange } from './helpers/clients.js';
import { runSuperd, startServices, type DaemonHandle } from './helpers/daemon.js';
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
  let d: DaemonHandle;
  let port: Record<string, number>;
  const p = (name: string): number => {
    const n = port[name];
    assert.ok(n !== undefined, `no port for ${name}`);
    return n;
  };

  before(async () => {
    ({ d, port } = await startServices(SERVICES));
  });
  after(async () => {
    await d?.stop();
  });

  test('echo/tcp sends back every byte, then closes after the client half-closes', async () => {
    const payload = Buffer.alloc(300_000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + 3) & 0xff;
    const r = await exchange(p('echo_tcp'), payload, { timeoutMs: 10000 });
    assert.equal(r.how, 'end');
    assert.ok(r.data.equals(payload), `echoed ${r.data.length} bytes of ${payload.length}`);
    const exited = await d.waitFor((x) => x.event === 'exited' && x.service === 'echo_tcp', 'echo exited');
    assert.equal(exited.builtin, 'echo');
    assert.equal(exited.pid, undefined, 'a builtin has no pid of its own');
    const accepted = d.logs.find((x) => x.event === 'accepted' && x.service === 'echo_tcp');
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
    const answered = await d.waitFor((x) => x.event === 'answered' && x.service === 'echo_udp', 'answered');
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
    const st = await statusOf(d, 'echo_udp');
    assert.ok(st >= 1, 'the refused request is counted');
  });

  test('chargen/tcp to a client that never reads: bounded memory, others still served', async () => {
    const rssBefore = await rssKb(d.pid);
    const sleepers = await Promise.all(Array.from({ length: 4 }, () => neverReads(p('chargen_tcp'))));
    await new Promise((r) => setTimeout(r, 1500));
    const r = await exchange(p('cat'), 'still served\n', { timeoutMs: 5000 });
    assert.equal(r.data.toString(), 'still served\n');
    const rssDuring = await rssKb(d.pid);
    assert.ok(rssDuring - rssBefore < 20_000, `RSS grew by ${rssDuring - rssBefore} kB with 4 stalled chargen clients`);
    for (const s of sleepers) s.destroy();
    assert.ok(
      await eventually(() => d.logs.filter((x) => x.event === 'exited' && x.service === 'chargen_tcp').length >= 5, 5000),
      'every chargen connection ends when its client goes',
    );
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

async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** A service's refusals for reflection, from `superd status` (they are logged at debug only). */
async function statusOf(d: DaemonHandle, service: string): Promise<number> {
  const r = await runSuperd(['status', '--json', '--control-socket', d.controlSocket]);
  const st = JSON.parse(r.stdout) as { services: { name: string; refused: Record<string, number> }[] };
  return st.services.find((s) => s.name === service)?.refused.reflection ?? 0;
}
