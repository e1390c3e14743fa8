// The test helpers themselves, against plain node servers (no superd): a
// broken helper would otherwise show up as a confusing failure of superd.
import assert from 'node:assert/strict';
import { createSocket, type Socket as DgramSocket, type SocketType } from 'node:dgram';
import { rm } from 'node:fs/promises';
import { createServer, isIPv6, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePorts, hasIPv6Loopback } from './helpers/clients.js';
import { tempDir } from './helpers/daemon.js';
import { udpClient, udpExchange } from './helpers/udp.js';
import { tryConnectUnix, unixExchange } from './helpers/unix.js';
import { within } from './helpers/wait.js';

/** A udp socket on host, port 0: it echoes every datagram back unless `silent`. */
function udpServer(type: SocketType, host: string, silent = false): Promise<{ sock: DgramSocket; port: number; seen: { port: number }[] }> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(type);
    const seen: { port: number }[] = [];
    sock.once('error', reject);
    sock.on('message', (msg, rinfo) => {
      seen.push({ port: rinfo.port });
      if (!silent) sock.send(msg, rinfo.port, rinfo.address);
    });
    sock.bind(0, host, () => resolve({ sock, port: sock.address().port, seen }));
  });
}

function closeUdp(sock: DgramSocket): Promise<void> {
  return new Promise((resolve) => sock.close(() => resolve()));
}

function closeServer(srv: Server): Promise<void> {
  return new Promise((resolve) => srv.close(() => resolve()));
}

/** Resolves whether `port` can be bound on host for tcp and for udp right now (both released again). */
async function bindable(port: number, host: string): Promise<{ tcp: boolean; udp: boolean }> {
  const tcp = await new Promise<boolean>((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
  const udp = await new Promise<boolean>((resolve) => {
    const sock = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    sock.once('error', () => {
      sock.close();
      resolve(false);
    });
    sock.bind(port, host, () => sock.close(() => resolve(true)));
  });
  return { tcp, udp };
}

describe('udpExchange and udpClient', () => {
  let v6: boolean;
  before(async () => {
    v6 = await hasIPv6Loopback();
  });

  test('udpExchange gets the echo back over 127.0.0.1', async () => {
    const echo = await udpServer('udp4', '127.0.0.1');
    try {
      const reply = await udpExchange(echo.port, 'hello udp4');
      assert.equal(reply?.toString(), 'hello udp4');
    } finally {
      await closeUdp(echo.sock);
    }
  });

  test('udpExchange gets the echo back over ::1', async (t) => {
    if (!v6) {
      t.skip('no IPv6 loopback on this host');
      return;
    }
    const echo = await udpServer('udp6', '::1');
    try {
      const reply = await udpExchange(echo.port, Buffer.from([0, 1, 2, 255]), { host: '::1' });
      assert.deepEqual(reply, Buffer.from([0, 1, 2, 255]));
    } finally {
      await closeUdp(echo.sock);
    }
  });

  test('udpExchange resolves null when nothing answers, within its timeout', async () => {
    const silent = await udpServer('udp4', '127.0.0.1', true);
    try {
      // Without its timeout it would wait forever: bounded here far above it, only to fail fast.
      const reply = await within(udpExchange(silent.port, 'anyone?', { timeoutMs: 200 }), 30000, 'udpExchange with nothing answering');
      assert.equal(reply, null);
      assert.equal(silent.seen.length, 1, 'the datagram did arrive');
    } finally {
      await closeUdp(silent.sock);
    }
  });

  test('udpExchange sends from the chosen localPort', async () => {
    const echo = await udpServer('udp4', '127.0.0.1');
    try {
      const [local] = (await freePorts(1, '127.0.0.1', { udp: true })) as [number];
      const reply = await udpExchange(echo.port, 'from a chosen port', { localPort: local });
      assert.equal(reply?.toString(), 'from a chosen port');
      assert.deepEqual(echo.seen, [{ port: local }]);
    } finally {
      await closeUdp(echo.sock);
    }
  });

  test('udpClient sends several datagrams and takes the replies in order; null when none is left', async () => {
    const echo = await udpServer('udp4', '127.0.0.1');
    const client = udpClient('127.0.0.1');
    try {
      const local = await client.ready;
      await client.send(echo.port, 'one');
      await client.send(echo.port, 'two');
      const first = await client.next();
      const second = await client.next();
      assert.equal(first?.data.toString(), 'one');
      assert.equal(first?.address, '127.0.0.1');
      assert.equal(first?.port, echo.port);
      assert.equal(second?.data.toString(), 'two');
      assert.deepEqual(echo.seen, [{ port: local }, { port: local }]);
      assert.equal(await client.next(150), null);
    } finally {
      client.close();
      await closeUdp(echo.sock);
    }
  });

  test('udpClient.close() ends a pending next() with null', async () => {
    const client = udpClient('127.0.0.1');
    await client.ready;
    const pending = client.next(5000);
    client.close();
    assert.equal(await pending, null);
  });
});

describe('unixExchange and tryConnectUnix', () => {
  let dir: string;
  let path: string;
  let srv: Server;
  before(async () => {
    dir = await tempDir('superd-helpers-');
    path = join(dir, 'echo.sock');
    // Echoes everything and closes once the client half-closed.
    srv = createServer({ allowHalfOpen: true }, (c) => {
      c.on('data', (d: Buffer) => c.write(d));
      c.on('end', () => c.end());
      c.on('error', () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(path, () => resolve());
    });
  });
  after(async () => {
    await closeServer(srv);
    await rm(dir, { recursive: true, force: true });
  });

  test('unixExchange sends, half-closes and reads the echo until EOF', async () => {
    const r = await unixExchange(path, 'hello unix');
    assert.deepEqual(r, { data: Buffer.from('hello unix'), how: 'end' });
  });

  test('unixExchange without halfClose rejects when the server never closes', async () => {
    await assert.rejects(unixExchange(path, 'x', { halfClose: false, timeoutMs: 200 }), /no EOF from .* within 200 ms \(got 1 bytes\)/);
  });

  test('unixExchange reports a missing socket as ENOENT', async () => {
    const r = await unixExchange(join(dir, 'missing.sock'), 'x');
    assert.equal(r.how, 'ENOENT');
  });

  test('tryConnectUnix: connected, or the error code', async () => {
    assert.equal(await tryConnectUnix(path), 'connected');
    assert.equal(await tryConnectUnix(join(dir, 'missing.sock'), 500), 'ENOENT');
  });
});

describe('freePorts', () => {
  test('{ udp: true }: distinct ports, each bindable for tcp and for udp on 127.0.0.1', async () => {
    const ports = await freePorts(4, '127.0.0.1', { udp: true });
    assert.equal(ports.length, 4);
    assert.equal(new Set(ports).size, 4);
    for (const p of ports) {
      assert.ok(p > 0 && p < 65536);
      assert.deepEqual(await bindable(p, '127.0.0.1'), { tcp: true, udp: true }, `port ${p}`);
    }
  });

  test("the wildcard '::': bindable for tcp and udp on every address", async () => {
    const ports = await freePorts(2, '::', { udp: true });
    const any = (await hasIPv6Loopback()) ? '::' : '0.0.0.0';
    for (const p of ports) assert.deepEqual(await bindable(p, any), { tcp: true, udp: true }, `port ${p}`);
  });

  test('also: free on 127.0.0.1 and ::1 at once', async (t) => {
    if (!(await hasIPv6Loopback())) {
      t.skip('no IPv6 loopback on this host');
      return;
    }
    const [p] = (await freePorts(1, '127.0.0.1', { udp: true, also: ['::1'] })) as [number];
    assert.deepEqual(await bindable(p, '127.0.0.1'), { tcp: true, udp: true });
    assert.deepEqual(await bindable(p, '::1'), { tcp: true, udp: true });
  });

  test('the old call freePorts(n) still works (tcp on 127.0.0.1)', async () => {
    const ports = await freePorts(2);
    assert.equal(new Set(ports).size, 2);
    for (const p of ports) assert.equal((await bindable(p, '127.0.0.1')).tcp, true);
  });
});
