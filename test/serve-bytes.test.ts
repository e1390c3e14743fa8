// Bytes through a real handler: what the client sends is exactly what the
// handler sees (SPEC §3: superd reads nothing, keeps no copy), in both address
// families, and the handler's TCP environment names the client correctly.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connectClient, exchange, hasIPv6Loopback } from './helpers/clients.js';
import { startServices, type DaemonHandle, type LogRecord } from './helpers/daemon.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('serve: bytes through /bin/cat', () => {
  let d: DaemonHandle | undefined;
  let catPort = 0;
  let whoPort = 0;
  let v6 = false;

  before(async () => {
    v6 = await hasIPv6Loopback();
    // protocol = tcp without bind: one service for both address families.
    const served = await startServices({
      cat: { protocol: 'tcp', server: '/bin/cat' },
      who: {
        protocol: 'tcp',
        server: '/bin/sh',
        args: `-c 'echo "ip=$TCPREMOTEIP port=$TCPREMOTEPORT lip=$TCPLOCALIP lport=$TCPLOCALPORT addr=$REMOTE_ADDR rport=$REMOTE_PORT proto=$PROTO"'`,
      },
    });
    d = served.d;
    catPort = served.port.cat ?? 0;
    whoPort = served.port.who ?? 0;
  });
  after(async () => {
    await d?.stop();
  });

  test('a small text payload comes back unchanged', async () => {
    const r = await exchange(catPort, 'hello, superd\n');
    assert.equal(r.how, 'end');
    assert.equal(r.data.toString('utf8'), 'hello, superd\n');
  });

  test('8 MiB of random bytes come back unchanged (sha256)', { timeout: 30000 }, async () => {
    const payload = randomBytes(8 * 1024 * 1024);
    const r = await exchange(catPort, payload, { timeoutMs: 25000 });
    assert.equal(r.how, 'end');
    assert.equal(r.data.length, payload.length);
    assert.equal(sha256(r.data), sha256(payload));
  });

  test('binary data with every byte value, NULs included, comes back unchanged', async () => {
    const parts: Buffer[] = [Buffer.from([0, 0, 0])];
    for (let i = 0; i < 64; i++) parts.push(Buffer.from(Array.from({ length: 256 }, (_, b) => (b + i) & 0xff)));
    parts.push(Buffer.from([0xff, 0x00, 0x0a, 0x0d, 0x00]));
    const payload = Buffer.concat(parts);
    const r = await exchange(catPort, payload);
    assert.equal(r.how, 'end');
    assert.equal(r.data.length, payload.length);
    assert.ok(r.data.equals(payload), 'echoed bytes differ from what was sent');
  });

  test('bytes written in many small pieces over time all arrive, in order', async () => {
    const c = await connectClient(catPort);
    const pieces: Buffer[] = [];
    for (let i = 0; i < 50; i++) {
      const piece = Buffer.from(`piece-${i};`);
      pieces.push(piece);
      c.write(piece);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 10));
    }
    const all = Buffer.concat(pieces);
    const echoed = await c.waitForBytes(all.length, 5000);
    assert.equal(echoed.toString(), all.toString());
    c.end();
    assert.equal(await c.waitClosed(5000), 'end');
    assert.equal(c.received().toString(), all.toString());
  });

  test('a client that sends nothing and half-closes gets EOF and no bytes', async () => {
    const r = await exchange(catPort, Buffer.alloc(0), { timeoutMs: 5000 });
    assert.equal(r.how, 'end');
    assert.equal(r.data.length, 0);
  });

  test('an IPv4 client is 127.0.0.1 in the environment and the log, never ::ffff:', async () => {
    const c = await connectClient(whoPort, { host: '127.0.0.1' });
    c.end();
    assert.equal(await c.waitClosed(5000), 'end');
    const out = c.received().toString();
    assert.equal(
      out,
      `ip=127.0.0.1 port=${c.localPort} lip=127.0.0.1 lport=${whoPort} addr=127.0.0.1 rport=${c.localPort} proto=TCP\n`,
    );
    assert.ok(!out.includes('::ffff:'), out);
    const accepted = await d!.waitFor(
      (r: LogRecord) => r.event === 'accepted' && r.service === 'who' && r.remote_port === c.localPort,
      'accepted record of the IPv4 client',
    );
    assert.equal(accepted.remote, '127.0.0.1');
    assert.equal(typeof accepted.pid, 'number');
  });

  test('an IPv6 client on ::1 reaches a protocol = tcp service without bind, and is ::1', async (t) => {
    if (!v6) {
      t.skip('this host has no ::1');
      return;
    }
    const c = await connectClient(whoPort, { host: '::1' });
    c.end();
    assert.equal(await c.waitClosed(5000), 'end');
    assert.equal(
      c.received().toString(),
      `ip=::1 port=${c.localPort} lip=::1 lport=${whoPort} addr=::1 rport=${c.localPort} proto=TCP\n`,
    );
    const accepted = await d!.waitFor(
      (r: LogRecord) => r.event === 'accepted' && r.service === 'who' && r.remote_port === c.localPort,
      'accepted record of the IPv6 client',
    );
    assert.equal(accepted.remote, '::1');
  });

  test('bytes through cat over IPv6 come back unchanged', async (t) => {
    if (!v6) {
      t.skip('this host has no ::1');
      return;
    }
    const payload = randomBytes(256 * 1024);
    const r = await exchange(catPort, payload, { host: '::1' });
    assert.equal(r.how, 'end');
    assert.equal(sha256(r.data), sha256(payload));
  });

  test('every cat handler exited with code 0', async () => {
    // Its own connections first: it must not depend on the tests above having run.
    for (let i = 0; i < 5; i++) assert.equal((await exchange(catPort, `exit ${i}\n`)).data.toString(), `exit ${i}\n`);
    const accepted = await d!.waitForCount((r) => r.event === 'accepted' && r.service === 'cat', 5, 'at least 5 accepted cat connections');
    const exited = await d!.waitForCount((r) => r.event === 'exited' && r.service === 'cat', accepted.length, 'every cat exited');
    for (const a of accepted) {
      const e = exited.find((x) => x.pid === a.pid);
      assert.ok(e !== undefined, `no exited record for pid ${String(a.pid)}`);
      assert.equal(e.code, 0);
      assert.equal(e.signal, null);
    }
    assert.equal(d!.logs.filter((r) => r.level === 'error').length, 0, 'no error records');
  });
});
