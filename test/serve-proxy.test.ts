// PROXY protocol (SPEC §2 proxy_protocol, issue 27) against the real thing:
// HAProxy 2.6 in front of superd with send-proxy and send-proxy-v2, a
// handler that reports what it sees and echoes the client's bytes, then
// hand-made headers: split anyhow, bad in every way, too slow, too many at
// once. Each bad one is refused (reason proxy_header) and superd serves on
// with no descriptor left behind.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connectClient, freePorts, hasIPv6Loopback, type Client } from './helpers/clients.js';
import { startServices, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { HAPROXY, startHaproxy, type Haproxy } from './helpers/haproxy.js';
import { fdCount } from './helpers/proc.js';
import { eventually, sleep } from './helpers/wait.js';
import { existsSync } from 'node:fs';

/** The handler: one line of what it was given, then the client's bytes back, exactly. */
const REPORT = {
  server: '/bin/sh',
  args: `-c 'printf "%s %s %s %s %s %s\\n" "$TCPREMOTEIP" "$TCPREMOTEPORT" "$PROXYREMOTEIP" "$PROXYREMOTEPORT" "$REMOTE_ADDR" "$REMOTE_PORT"; exec cat'`,
};
const ANY = { protocol: 'tcp', bind: '127.0.0.1', proxy_protocol: 'any', proxy_from: '127.0.0.0/8' };

const SERVICES: Record<string, Record<string, string | number>> = {
  v1: { ...REPORT, protocol: 'tcp', bind: '127.0.0.1', proxy_protocol: 'v1', proxy_from: '127.0.0.1' },
  v2: { ...REPORT, protocol: 'tcp', bind: '127.0.0.1', proxy_protocol: 'v2', proxy_from: '127.0.0.1' },
  only: { ...REPORT, protocol: 'tcp', bind: '127.0.0.1', proxy_protocol: 'v2', proxy_from: '127.0.0.1', only_from: '127.0.0.1' },
  health: {
    server: '/bin/sh',
    args: `-c 'echo "seen $TCPREMOTEIP $TCPREMOTEPORT $PROXYREMOTEIP $PROXYREMOTEPORT" >&2; echo ok'`,
    protocol: 'tcp', bind: '127.0.0.1', proxy_protocol: 'v2', proxy_from: '127.0.0.1',
  },
  hand: { ...REPORT, ...ANY, proxy_timeout: 1 },
  // Headers split apart: however loaded the machine, the pieces come well within its proxy_timeout.
  split: { ...REPORT, ...ANY, proxy_timeout: 60 },
  elsewhere: { ...REPORT, protocol: 'tcp', bind: '127.0.0.1', proxy_protocol: 'any', proxy_from: '192.0.2.1 10.0.0.0/8' },
  echo: { builtin: 'echo', ...ANY },
  persource: { ...REPORT, ...ANY, max_per_source: 1 },
  bound: { ...REPORT, ...ANY, proxy_timeout: 60 },
};

const skip = existsSync(HAPROXY) ? false : `no ${HAPROXY} (apt-get install haproxy)`;

interface Seen {
  remoteIp: string;
  remotePort: number;
  proxyIp: string;
  proxyPort: number;
  remoteAddr: string;
  remotePortEnv: number;
}

/** The daemon of the suite, for what a failure says. */
let daemon: DaemonHandle | undefined;

/** The handler's line, and then what it echoed. */
async function report(c: Client, echoed: number): Promise<{ seen: Seen; rest: Buffer }> {
  const got = await eventually(() => c.received().includes(0x0a), 15000);
  const refusals = (daemon?.logs ?? []).filter((r) => r.event === 'refused').slice(-3);
  assert.ok(got, `no line from the handler; closed: ${c.closedHow()}; last refusals: ${JSON.stringify(refusals)}`);
  const all = c.received();
  const nl = all.indexOf(0x0a);
  const [remoteIp = '', remotePort = '', proxyIp = '', proxyPort = '', remoteAddr = '', remotePortEnv = ''] = all.subarray(0, nl).toString().split(' ');
  const full = await c.waitForBytes(nl + 1 + echoed, 15000);
  return {
    seen: { remoteIp, remotePort: Number(remotePort), proxyIp, proxyPort: Number(proxyPort), remoteAddr, remotePortEnv: Number(remotePortEnv) },
    rest: full.subarray(nl + 1),
  };
}

/** Bytes a header left behind would spoil: every byte value, starting with what a header starts with. */
const PAYLOAD = Buffer.concat([Buffer.from('\r\n\r\n\0\r\nQUIT\nPROXY '), Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(4096)]);

function v1(src: string, sport: number, dst = '127.0.0.1', dport = 7): Buffer {
  return Buffer.from(`PROXY ${src.includes(':') ? 'TCP6' : 'TCP4'} ${src} ${dst} ${sport} ${dport}\r\n`);
}

describe('serve: PROXY protocol', { skip }, () => {
  let d: DaemonHandle;
  let port: Record<string, number>;
  const balancers: Haproxy[] = [];

  before(async () => {
    ({ d, port } = await startServices(SERVICES));
    daemon = d;
  });
  after(async () => {
    await Promise.all(balancers.map((b) => b.stop()));
    await d?.stop();
  });

  async function balancer(o: { send: 'v1' | 'v2'; service: string; host?: string; check?: boolean }): Promise<{ port: number; host: string }> {
    const host = o.host ?? '127.0.0.1';
    const [frontendPort] = await freePorts(1, host);
    assert.ok(frontendPort !== undefined);
    const b = await startHaproxy({ frontendHost: host, frontendPort, backendPort: port[o.service] as number, send: o.send, check: o.check ?? false });
    balancers.push(b);
    return { port: frontendPort, host };
  }

  const refusedWith = (remote: string, message: RegExp) => (r: LogRecord): boolean =>
    r.event === 'refused' && r.reason === 'proxy_header' && r.remote === remote && message.test(String(r.message));

  for (const send of ['v1', 'v2'] as const) {
    test(`HAProxy send-proxy${send === 'v2' ? '-v2' : ''}: the handler sees the client, the balancer in PROXYREMOTE*, the client's bytes exactly`, async () => {
      const front = await balancer({ send, service: send });
      const c = await connectClient(front.port);
      c.end(PAYLOAD);
      const { seen, rest } = await report(c, PAYLOAD.length);
      assert.deepEqual([seen.remoteIp, seen.remotePort, seen.remoteAddr, seen.remotePortEnv], ['127.0.0.1', c.localPort, '127.0.0.1', c.localPort]);
      assert.equal(seen.proxyIp, '127.0.0.1');
      assert.notEqual(seen.proxyPort, c.localPort, "PROXYREMOTEPORT is the balancer's own port");
      assert.ok(rest.equals(PAYLOAD), 'the handler got exactly the client bytes, the first one intact');
      await d.waitFor((r) => r.event === 'accepted' && r.service === send && r.remote === '127.0.0.1' && r.remote_port === c.localPort, 'accepted with the client as remote');
      await d.waitFor((r) => r.event === 'exited' && r.service === send, 'the handler exited');
    });
  }

  test('HAProxy send-proxy-v2 for a client on ::1: TCP6, the client address everywhere', async (t) => {
    if (!(await hasIPv6Loopback())) return t.skip('no IPv6 loopback here');
    const front = await balancer({ send: 'v2', service: 'v2', host: '::1' });
    const c = await connectClient(front.port, { host: '::1' });
    c.end('six');
    const { seen, rest } = await report(c, 3);
    assert.deepEqual([seen.remoteIp, seen.remotePort, seen.remoteAddr, seen.proxyIp], ['::1', c.localPort, '::1', '127.0.0.1']);
    assert.equal(rest.toString(), 'six');
    await d.waitFor((r) => r.event === 'accepted' && r.service === 'v2' && r.remote === '::1' && r.remote_port === c.localPort, 'accepted remote=::1');
  });

  test("only_from judges the client the header names, not the balancer (whose address it allows)", async () => {
    const front = await balancer({ send: 'v2', service: 'only' });
    const refusedClient = await connectClient(front.port, { localAddress: '127.0.0.2' });
    refusedClient.write('x');
    await d.waitFor((r) => r.event === 'refused' && r.service === 'only' && r.reason === 'only_from' && r.remote === '127.0.0.2' && r.remote_port === refusedClient.localPort, 'refused only_from remote=127.0.0.2');
    await refusedClient.waitClosed(15000);
    assert.equal(refusedClient.received().length, 0, 'no handler ran');
    const allowed = await connectClient(front.port);
    allowed.end('ok');
    const { seen } = await report(allowed, 2);
    assert.equal(seen.remoteIp, '127.0.0.1');
  });

  test("HAProxy's health checks (check-send-proxy: LOCAL) are served with the connection's own addresses", async () => {
    await balancer({ send: 'v2', service: 'health', check: true });
    // Its checks start a handler every 200 ms: stopped with this test, so the descriptor counts below hold still.
    const checker = balancers.pop();
    try {
      const line = await d.waitFor((r) => r.event === 'stderr' && r.service === 'health' && String(r.message).startsWith('seen'), 'a health check served', 15000);
      const [, ip, p, proxyIp, proxyPort] = String(line.message).split(' ');
      assert.deepEqual([ip, p], [proxyIp, proxyPort], 'LOCAL: the remote is the balancer itself');
      assert.equal(ip, '127.0.0.1');
    } finally {
      await checker?.stop();
    }
  });

  test('a header split anyhow (even a byte at a time) is waited for, and the first byte after it is the client\'s', async () => {
    const header = v1('192.0.2.44', 4444);
    for (const cuts of [[2, 20, header.length - 1], Array.from({ length: header.length - 1 }, (_, i) => i + 1)]) {
      const c = await connectClient(port.split as number);
      let at = 0;
      for (const cut of cuts) {
        c.write(header.subarray(at, cut));
        at = cut;
        await sleep(cuts.length > 5 ? 2 : 60); // pacing, so the pieces arrive apart
      }
      c.end(Buffer.concat([header.subarray(at), PAYLOAD]));
      const { seen, rest } = await report(c, PAYLOAD.length);
      assert.deepEqual([seen.remoteIp, seen.remotePort, seen.proxyIp, seen.proxyPort], ['192.0.2.44', 4444, '127.0.0.1', c.localPort]);
      assert.ok(rest.equals(PAYLOAD));
    }
    const v2 = Buffer.concat([Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1'), Buffer.from([0x21, 0x21, 0, 36]), Buffer.from('20010db8000000000000000000000009', 'hex'), Buffer.alloc(15), Buffer.from([1, 0x1f, 0x90, 0, 7])]);
    const c = await connectClient(port.split as number);
    c.write(v2.subarray(0, 13));
    await sleep(60);
    c.end(Buffer.concat([v2.subarray(13), Buffer.from([0])]));
    const { seen, rest } = await report(c, 1);
    assert.deepEqual([seen.remoteIp, seen.remotePort], ['2001:db8::9', 8080]);
    assert.deepEqual([...rest], [0]);
  });

  test('a builtin behind a balancer: echo answers the bytes after the header, logged with the client', async () => {
    const c = await connectClient(port.echo as number);
    c.end(Buffer.concat([v1('198.51.100.7', 7777), PAYLOAD]));
    const back = await c.waitForBytes(PAYLOAD.length, 15000);
    assert.ok(back.equals(PAYLOAD));
    await d.waitFor((r) => r.event === 'accepted' && r.service === 'echo' && r.remote === '198.51.100.7' && r.remote_port === 7777, 'accepted remote=198.51.100.7');
  });

  test('max_per_source counts the clients the headers name, not the balancer', async () => {
    const held: Client[] = [];
    for (const src of ['192.0.2.1', '192.0.2.2']) {
      const c = await connectClient(port.persource as number);
      c.write(v1(src, 1000));
      assert.equal((await report(c, 0)).seen.remoteIp, src);
      held.push(c);
    }
    const third = await connectClient(port.persource as number);
    third.write(v1('192.0.2.1', 1001));
    await d.waitFor((r) => r.event === 'refused' && r.service === 'persource' && r.reason === 'max_per_source' && r.remote === '192.0.2.1', 'refused max_per_source remote=192.0.2.1');
    await third.waitClosed(15000);
    for (const c of held) c.end();
  });

  test('a peer not in proxy_from is refused, its header unread', async () => {
    const c = await connectClient(port.elsewhere as number);
    c.write(v1('192.0.2.1', 1));
    await c.waitClosed(15000);
    assert.equal(c.received().length, 0);
    await d.waitFor((r) => r.event === 'refused' && r.service === 'elsewhere' && r.reason === 'proxy_header' && r.remote === '127.0.0.1' && /127\.0\.0\.1 is not in proxy_from/.test(String(r.message)), 'refused: not in proxy_from');
  });

  test('bad headers are refused at once (proxy_header), a silent one after proxy_timeout; superd serves on, no descriptor left', async () => {
    const baseline = await fdCount(d.pid);
    const cases: [string, Buffer | null, RegExp][] = [
      ['garbage', Buffer.from('GET / HTTP/1.0\r\n\r\n'), /no PROXY header/],
      ['v1 too long', Buffer.from(`PROXY UNKNOWN ${'a'.repeat(100)}`), /longer than 107/],
      ['v1 bad address', v1('300.1.1.1', 1), /not an IPv4 address/],
      ['v2 bad signature', Buffer.from('\r\n\r\n\0\r\nQUIT!\x21\x11\0\x0c', 'latin1'), /signature/],
      ['v2 oversized', Buffer.concat([Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1'), Buffer.from([0x21, 0x11, 0x10, 0x00])]), /more than the 1024/],
      ['never completed', Buffer.from('PROXY TCP4 1.2'), /within proxy_timeout \(1 s\)/],
    ];
    for (const [i, [name, data, says]] of cases.entries()) {
      const from = `127.0.0.${20 + i}`;
      const c = await connectClient(port.hand as number, { localAddress: from });
      const started = Date.now();
      if (data !== null) c.write(data);
      await d.waitFor(refusedWith(from, says), `${name}: refused proxy_header`, 15000);
      await c.waitClosed(15000);
      assert.equal(c.received().length, 0, `${name}: nothing was served`);
      if (name === 'never completed') assert.ok(Date.now() - started >= 900, `${name}: refused only after proxy_timeout`);
      c.destroy();
    }
    const ok = await connectClient(port.hand as number);
    ok.end(Buffer.concat([v1('192.0.2.5', 5), Buffer.from('still')]));
    assert.equal((await report(ok, 5)).rest.toString(), 'still');
    assert.ok(await eventually(async () => (await fdCount(d.pid)) <= baseline, 20000), `superd's descriptors back to ${baseline}: ${await fdCount(d.pid)}`);
  });

  test('a client that leaves before its header is whole (closes, or resets as a health check does) is dropped, not refused; superd serves on', async () => {
    const baseline = await fdCount(d.pid);
    for (const [i, how] of (['client_closed', 'client_reset'] as const).entries()) {
      const from = `127.0.0.${40 + i}`;
      const c = await connectClient(port.split as number, { localAddress: from });
      c.write('PROXY TCP4 1.2');
      // Seen waiting first: the leaving is what it is dropped for.
      await eventually(async () => (await fdCount(d.pid)) > baseline, 10000);
      if (how === 'client_closed') c.end();
      else c.reset();
      const dropped = await d.waitFor((r) => r.event === 'dropped' && r.service === 'split' && r.remote === from, `${how}: dropped`, 15000);
      assert.equal(dropped.reason, how);
      assert.equal(dropped.level, 'info');
      c.destroy();
    }
    assert.equal(d.logs.filter((r) => r.event === 'refused' && r.service === 'split').length, 0, 'nothing refused');
    const ok = await connectClient(port.split as number);
    ok.end(Buffer.concat([v1('192.0.2.6', 6), Buffer.from('after')]));
    assert.equal((await report(ok, 5)).rest.toString(), 'after');
    assert.ok(await eventually(async () => (await fdCount(d.pid)) <= baseline, 20000), `superd's descriptors back to ${baseline}: ${await fdCount(d.pid)}`);
  });

  test('at most 128 connections of a service wait for their header: the next is refused', async () => {
    const baseline = await fdCount(d.pid);
    const waiting: Client[] = [];
    for (let i = 0; i < 128; i++) {
      const c = await connectClient(port.bound as number);
      c.write('PROXY');
      waiting.push(c);
    }
    const extra = await connectClient(port.bound as number, { localAddress: '127.0.0.200' });
    extra.write('PROXY');
    await d.waitFor(refusedWith('127.0.0.200', /128 connections of this service already wait/), 'the 129th refused', 15000);
    await extra.waitClosed(15000);
    assert.ok(waiting.every((c) => c.closedHow() === null), 'the 128 still wait');
    for (const c of waiting) c.destroy();
    extra.destroy();
    assert.ok(await eventually(async () => (await fdCount(d.pid)) <= baseline, 20000), `superd's descriptors back to ${baseline}: ${await fdCount(d.pid)}`);
    const ok = await connectClient(port.bound as number);
    ok.end(Buffer.concat([v1('192.0.2.6', 6), Buffer.from('z')]));
    assert.equal((await report(ok, 1)).rest.toString(), 'z');
  });
});
