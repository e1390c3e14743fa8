// A udp builtin is no reflector and no end of a loop (SPEC §2), on the real
// daemon: no answer to a datagram from a port on which superd serves a udp
// builtin (kept across reloads), nor from 2049; chargen answers one 74-byte
// line, even to an empty datagram; a flood from one source logs a few
// `answered` lines and a summary, not one line each; superd serves on.
//
// A client cannot bind a port superd holds on the same address, so it sends
// from another loopback address (127.0.0.2, ::1) with that port number: the
// rule is about the port, whatever the address.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { readdir, readFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { chargenLine } from '../src/builtins/chargen.js';
import { freePorts, hasIPv6Loopback } from './helpers/clients.js';
import { assertStillServes, serviceFile, serviceStatus, servicesForSuite } from './helpers/daemon.js';
import { udpExchange } from './helpers/udp.js';
import { eventually } from './helpers/wait.js';

const RING = Array.from({ length: 95 }, (_, n) => chargenLine(n));

/** A client socket bound to `address`:`port` (0: any), sending to superd on 127.0.0.1 (or ::1), keeping every reply it gets. */
interface Probe {
  readonly port: number;
  readonly replies: Buffer[];
  send(to: number, payload: Buffer | string): Promise<void>;
  /** The next reply not yet taken, or null after timeoutMs. */
  next(timeoutMs?: number): Promise<Buffer | null>;
  close(): void;
}

async function probe(address: string, port = 0): Promise<Probe> {
  const six = isIPv6(address);
  const superd = six ? '::1' : '127.0.0.1';
  const sock: Socket = createSocket(six ? 'udp6' : 'udp4');
  const replies: Buffer[] = [];
  let taken = 0;
  const wake = new Set<() => void>();
  sock.on('error', () => undefined);
  sock.on('message', (m: Buffer) => {
    replies.push(m);
    for (const w of wake) w();
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address, port, exclusive: true }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  return {
    port: sock.address().port,
    replies,
    send: (to, payload) => new Promise((resolve, reject) => sock.send(payload, to, superd, (err) => (err === null ? resolve() : reject(err)))),
    next(timeoutMs = 3000) {
      if (taken < replies.length) return Promise.resolve(replies[taken++] ?? null);
      return new Promise((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          wake.delete(done);
          resolve(taken < replies.length ? (replies[taken++] ?? null) : null);
        };
        const timer = setTimeout(done, timeoutMs);
        wake.add(done);
      });
    },
    close: () => sock.close(),
  };
}

/** Whether route_localnet lets 127.0.0.0/8 in from an interface other than lo on this host. */
async function localnetFromOutside(): Promise<boolean> {
  const dir = '/proc/sys/net/ipv4/conf';
  const names = (await readdir(dir)).filter((n) => n !== 'lo' && n !== 'default');
  const on = await Promise.all(names.map(async (n) => (await readFile(`${dir}/${n}/route_localnet`, 'utf8').catch(() => '0')).trim() !== '0'));
  return on.some(Boolean);
}

describe('serve: udp builtins are no reflectors', async () => {
  const v6 = await hasIPv6Loopback();
  const suite = servicesForSuite({
    echo_udp: { protocol: 'udp', bind: '127.0.0.1', builtin: 'echo' },
    chargen_udp: { protocol: 'udp', bind: '127.0.0.1', builtin: 'chargen' },
    flood_udp: { protocol: 'udp', bind: '127.0.0.1', builtin: 'daytime' },
    dual_echo: { protocol: 'udp', builtin: 'echo' },
    ...(v6 ? { echo6: { protocol: 'udp6', bind: '::1', builtin: 'echo' } } : {}),
    cat: { protocol: 'tcp', bind: '127.0.0.1', server: '/bin/cat' },
  });
  const p = (name: string): number => suite.port[name] ?? assert.fail(`no port for ${name}`);

  /**
   * Sends from `from` and asserts superd refused it as reflection: its count
   * goes up (so superd has judged it), and no reply came.
   */
  async function assertRefused(service: string, from: Probe, payload: Buffer | string = 'ping'): Promise<void> {
    const before = (await serviceStatus(suite.d, service)).refused.reflection ?? 0;
    const replies = from.replies.length;
    await from.send(p(service), payload);
    assert.ok(
      await eventually(async () => ((await serviceStatus(suite.d, service)).refused.reflection ?? 0) > before, 15000, 100),
      `${service} counts the datagram from port ${from.port} as refused for reflection`,
    );
    assert.equal(from.replies.length, replies, `${service} sent no reply to port ${from.port}`);
  }

  async function assertAnswered(service: string, from: Probe, payload = 'ping'): Promise<Buffer> {
    await from.send(p(service), payload);
    const reply = await from.next(3000);
    assert.ok(reply !== null, `${service} answers a datagram from port ${from.port}`);
    return reply;
  }

  test('no answer from a port on which superd serves a udp builtin (another one, or its own); an ordinary port is answered', async () => {
    for (const [service, sourcePort] of [
      ['echo_udp', p('chargen_udp')],
      ['echo_udp', p('echo_udp')],
      ['chargen_udp', p('echo_udp')],
    ] as const) {
      const from = await probe('127.0.0.2', sourcePort);
      try {
        await assertRefused(service, from);
      } finally {
        from.close();
      }
    }
    const ordinary = await probe('127.0.0.2');
    try {
      assert.equal((await assertAnswered('echo_udp', ordinary, 'from an ordinary port')).toString(), 'from an ordinary port');
    } finally {
      ordinary.close();
    }
  });

  test('IPv6: no answer from [::1] on the port of an IPv4 udp builtin; [::1] on an ordinary port is answered', { skip: v6 ? false : 'no IPv6 loopback (::1)' }, async () => {
    const from = await probe('::1', p('echo_udp'));
    try {
      await assertRefused('echo6', from);
    } finally {
      from.close();
    }
    const ordinary = await probe('::1');
    try {
      assert.equal((await assertAnswered('echo6', ordinary, 'six')).toString(), 'six');
    } finally {
      ordinary.close();
    }
  });

  test('no answer from port 2049 (NFS)', async (t: TestContext) => {
    let from: Probe;
    try {
      from = await probe('127.0.0.2', 2049);
    } catch (err) {
      t.skip(`cannot bind 127.0.0.2:2049 here (${(err as Error).message})`);
      return;
    }
    try {
      await assertRefused('echo_udp', from);
      await assertRefused('chargen_udp', from, Buffer.alloc(0));
    } finally {
      from.close();
    }
  });

  test('a reload keeps the set: a udp builtin added, moved and removed', async () => {
    const [first, second] = await freePorts(2, '127.0.0.1', { udp: true });
    assert.ok(first !== undefined && second !== undefined);
    const late = (at: number): string => serviceFile('late', { protocol: 'udp', bind: '127.0.0.1', port: at, builtin: 'discard' });
    const sendFrom = async (sourcePort: number, answered: boolean): Promise<void> => {
      const from = await probe('127.0.0.2', sourcePort);
      try {
        if (answered) assert.equal((await assertAnswered('echo_udp', from, `from ${sourcePort}`)).toString(), `from ${sourcePort}`);
        else await assertRefused('echo_udp', from);
      } finally {
        from.close();
      }
    };
    await sendFrom(first, true);

    await suite.d.writeService('late.conf', late(first));
    await suite.d.reload();
    await suite.d.waitFor((r) => r.event === 'listening' && r.service === 'late', 'late listening');
    await sendFrom(first, false);

    // Moved: its old port is an ordinary one again, its new one is not.
    await suite.d.writeService('late.conf', late(second));
    await suite.d.reload();
    await suite.d.waitForCount((r) => r.event === 'listening' && r.service === 'late', 2, 'late listening on its new port');
    await sendFrom(first, true);
    await sendFrom(second, false);

    await suite.d.writeService('late.conf', late(second).replace('[late]', '[late]\ndisabled = yes'));
    await suite.d.reload();
    await sendFrom(second, true);
  });

  test('chargen over udp answers exactly one 74-byte line, even to an empty datagram, the next line each time', async () => {
    const from = await probe('127.0.0.1');
    try {
      const one = await assertAnswered('chargen_udp', from, '');
      assert.equal(one.length, 74);
      const at = RING.indexOf(one.toString('latin1'));
      assert.ok(at >= 0, `a line of the RFC 864 ring: ${JSON.stringify(one.toString('latin1'))}`);
      const two = await assertAnswered('chargen_udp', from, 'x'.repeat(1000));
      assert.equal(two.length, 74);
      assert.equal(two.toString('latin1'), chargenLine(at + 1));
    } finally {
      from.close();
    }
    const empty = await udpExchange(p('chargen_udp'), Buffer.alloc(0));
    assert.equal(empty?.length, 74);
  });

  test('the dual-stack socket serves a plain IPv4 client on loopback, and ::1', async () => {
    const refusedBefore = (await serviceStatus(suite.d, 'dual_echo')).refused.reflection ?? 0;
    const four = await udpExchange(p('dual_echo'), 'four', { host: '127.0.0.1', timeoutMs: 1000 });
    if (await localnetFromOutside()) {
      // 127.0.0.0/8 could come from outside on this host: not answered on a wildcard socket.
      assert.equal(four, null);
      assert.ok(await eventually(async () => ((await serviceStatus(suite.d, 'dual_echo')).refused.reflection ?? 0) > refusedBefore, 15000, 100));
    } else {
      assert.equal(four?.toString(), 'four');
      const answered = await suite.d.waitFor((r) => r.event === 'answered' && r.service === 'dual_echo', 'dual_echo answered');
      assert.equal(answered.remote, '127.0.0.1');
    }
    if (v6) assert.equal((await udpExchange(p('dual_echo'), 'six', { host: '::1' }))?.toString(), 'six');
  });

  test('a flood from one source: every datagram answered and counted, a few `answered` lines and a summary', async () => {
    const total = 120;
    const from = await probe('127.0.0.3');
    try {
      for (let i = 0; i < total; i++) {
        await from.send(p('flood_udp'), 'now?');
        assert.ok((await from.next(3000)) !== null, `datagram ${i} answered`);
      }
    } finally {
      from.close();
    }
    assert.equal((await serviceStatus(suite.d, 'flood_udp')).accepted, total, 'status counts every answer');
    const lines = suite.d.logs.filter((r) => r.event === 'answered' && r.service === 'flood_udp');
    assert.ok(lines.length >= 1 && lines.length <= 3, `${lines.length} answered lines for ${total} datagrams from one source`);
    // One summary every 5 s at most: a slow run may need two.
    const summaries = (): typeof suite.d.logs => suite.d.logs.filter((r) => r.event === 'answered_summary' && r.service === 'flood_udp');
    const summed = (): number => summaries().reduce((n, r) => n + Number(r.count), 0);
    assert.ok(await eventually(() => summed() + lines.length === total, 15000, 50), `summaries count the rest: ${summed()} + ${lines.length} of ${total}`);
    for (const summary of summaries()) {
      assert.equal(summary.builtin, 'daytime');
      assert.equal(summary.level, 'info');
      assert.equal(summary.sources, 1);
      assert.match(String(summary.message), /^\d+ more answered from 1 source/);
    }
    assert.equal(suite.d.logs.filter((r) => r.event === 'answered' && r.service === 'flood_udp').length, lines.length, 'no more lines one by one');
  });

  test('superd serves on after all of it', async () => {
    const ordinary = await probe('127.0.0.1');
    try {
      assert.equal((await assertAnswered('echo_udp', ordinary, 'still')).toString(), 'still');
    } finally {
      ordinary.close();
    }
    await assertStillServes(suite.d, p('cat'));
  });
});
