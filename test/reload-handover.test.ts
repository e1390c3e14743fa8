// SPEC §4: a reload that moves a service to an overlapping address (the same
// port: 127.0.0.1 → 0.0.0.0, tcp → tcp4, a wait service whose handler still
// holds the old socket) opens the new socket before the old one is closed.
// Watched from outside: a client connecting without pause across the change
// is never refused nor reset and gets its own bytes back, no bind_failed is
// logged, and afterwards the port is the new socket's alone.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SysError } from '../src/sys/errors.js';
import { dropNewHandshakes, releasePort, setReusePort } from '../src/sys/socket-handover.js';
import { bindInet, type SysSocket } from '../src/sys/sockets.js';
import { connectClient, exchange, freePorts, tryConnect } from './helpers/clients.js';
import { perTest, serviceFile, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { udpClient, udpExchange } from './helpers/udp.js';
import { socketFiltersAllowed } from './helpers/loop.js';
import { eventually } from './helpers/wait.js';

const { daemon } = perTest({ stopSignal: 'SIGTERM', args: ['--shutdown-grace', '1'] });

/**
 * Sequential clients, each sending its own line to /bin/cat and expecting it
 * back whole, until `enough()`; each failure as a line (none expected).
 */
async function clientsUntil(port: number, enough: () => boolean): Promise<{ served: number; failures: string[] }> {
  const failures: string[] = [];
  let served = 0;
  for (let n = 0; !enough() && n < 5000; n++) {
    const line = `client ${n} ${'x'.repeat(n % 97)}\n`;
    const r = await exchange(port, line, { timeoutMs: 10000 }).catch((e: Error) => ({ data: Buffer.alloc(0), how: e.message }));
    if (r.how === 'end' && r.data.toString() === line) served += 1;
    else failures.push(`#${n}: ${r.how} ${JSON.stringify(r.data.toString())}`);
  }
  return { served, failures };
}

/** What a bind by another program on the port gets: 'bound', or the errno name. Plain (as Node binds) or with SO_REUSEPORT. */
async function foreignBind(port: number, host: string, reusePort: boolean): Promise<string> {
  if (reusePort) {
    const s = bindInet({ type: 'stream', host, port, ipv6Only: false, reusePort: true });
    if (s instanceof SysError) return s.code;
    s.close();
    return 'bound';
  }
  const srv = createServer();
  return new Promise((resolve) => {
    srv.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    srv.listen({ port, host }, () => srv.close(() => resolve('bound')));
  });
}

/**
 * Whether the port comes to be closed to a socket with SO_REUSEPORT (bounded):
 * the old socket shares it until it has closed, a moment after the reload.
 */
function closedToJoiners(port: number, host: string): Promise<boolean> {
  return eventually(async () => (await foreignBind(port, host, true)) === 'EADDRINUSE', 10000, 50);
}

const bindFailures = (d: DaemonHandle): LogRecord[] => d.logs.filter((r) => r.event === 'bind_failed');

/** Parallel clients: the old socket's backlog is seldom empty when it closes, and a gap would be met. */
const CLIENTS = 6;
/** Reloads back and forth: each one a hand-over. */
const FLIPS = 7;

const FILTERS = socketFiltersAllowed();

/**
 * Moves the service `from` → `to` and back, FLIPS times, while CLIENTS clients
 * connect one after the other each; checks what SPEC §4 promises. Ends on `to` (FLIPS is odd).
 */
async function handOverUnderLoad(from: Record<string, string | number>, to: Record<string, string | number>, port: number): Promise<DaemonHandle> {
  const d = await daemon({ services: { 'c.conf': serviceFile('c', { port, server: '/bin/cat', ...from }) } });
  let total = 0;
  let stopAt = Infinity;
  const clients = Array.from({ length: CLIENTS }, () =>
    clientsUntil(port, () => {
      total += 1;
      return total >= stopAt;
    }),
  );
  for (let i = 0; i < FLIPS; i++) {
    // A few connections between reloads, so that each one lands mid-loop.
    const mark = total;
    while (total < mark + CLIENTS * 3) await new Promise<void>((resolve) => setImmediate(resolve));
    await d.writeService('c.conf', serviceFile('c', { port, server: '/bin/cat', ...(i % 2 === 0 ? to : from) }));
    const summary = await d.reload();
    assert.equal(summary.changed, 1, 'the service changed');
  }
  // And some after the last one.
  stopAt = total + CLIENTS * 5;
  const results = await Promise.all(clients);
  const failures = results.flatMap((r) => r.failures);
  const unexpected = FILTERS ? failures : failures.filter((f) => !f.includes('ECONNRESET'));
  const what = FILTERS ? 'every client served with its bytes' : 'no client refused (without a socket filter, a handshake under way at the close may be reset)';
  assert.deepEqual(unexpected, [], `${what} across ${FLIPS} hand-overs (${results.map((r) => r.served).join('+')} served)`);
  assert.deepEqual(bindFailures(d), [], 'no bind_failed: each new socket bound beside the old one');
  return d;
}

describe('the kernel facts the hand-over rests on (sys/socket-handover.ts)', () => {
  const listener = (host: string, port: number, reusePort: boolean): SysSocket => {
    const s = bindInet({ type: 'stream', host, port, ipv6Only: false, reusePort });
    if (s instanceof SysError) assert.fail(`bind ${host}:${port}: ${s.message}`);
    return s;
  };

  test('SO_REUSEPORT set late lets 0.0.0.0:P bind beside 127.0.0.1:P; releasePort closes the port to a third one', async () => {
    const [port] = (await freePorts(1, '0.0.0.0')) as [number];
    const old = listener('127.0.0.1', port, false);
    assert.equal(await foreignBind(port, '0.0.0.0', true), 'EADDRINUSE', 'not before the old socket shares the port');
    assert.equal(setReusePort(old.fd, true), null);
    const next = listener('0.0.0.0', port, true);
    old.close();
    try {
      // Clearing the option alone is not enough for tcp: the kernel's per-port shortcut still lets one in.
      assert.equal(setReusePort(next.fd, false), null);
      assert.equal(await foreignBind(port, '0.0.0.0', true), 'bound', 'the kernel fact releasePort works around');
      assert.equal(releasePort(next.fd, { type: 'stream', host: '0.0.0.0', port, ipv6Only: false }), null);
      assert.equal(await foreignBind(port, '0.0.0.0', true), 'EADDRINUSE');
      assert.equal(await foreignBind(port, '127.0.0.1', true), 'EADDRINUSE');
      assert.equal(await foreignBind(port, '127.0.0.1', false), 'EADDRINUSE');
    } finally {
      next.close();
    }
  });

  test('a listening socket that drops new handshakes: a new client is not let in, an established one goes on', async (t) => {
    const [port] = (await freePorts(1)) as [number];
    const socket = listener('127.0.0.1', port, false);
    // Node serves on it (and closes it with the server), as superd does.
    const srv = createServer((c) => c.pipe(c));
    await new Promise<void>((resolve) => srv.listen({ fd: socket.fd }, resolve));
    const held = await connectClient(port);
    try {
      const refused = dropNewHandshakes(socket.fd);
      // kernel.unprivileged_bpf_disabled=2 on some kernels refuses even a classic
      // socket filter to an ordinary user; superd's hand-over then only drains.
      if (refused?.code === 'EPERM' && process.getuid?.() !== 0) {
        t.skip('this kernel refuses socket filters (SO_ATTACH_FILTER: EPERM) to an ordinary user; as root they are allowed');
        return;
      }
      assert.equal(refused, null);
      assert.equal(await tryConnect(port, '127.0.0.1', 400), 'ETIMEDOUT', 'its SYN was dropped: it would send it again later');
      held.write('still\n');
      assert.equal((await held.waitForBytes(6)).toString(), 'still\n');
    } finally {
      // A client left open would keep the server, and this test process, alive.
      held.destroy();
      srv.close();
    }
  });
});

describe('reload to an overlapping address: the port is handed over', { timeout: 120000 }, () => {
  test('127.0.0.1:P → 0.0.0.0:P with clients connecting throughout: none refused or reset; the port is the new socket\'s alone', async () => {
    const [port] = (await freePorts(1, '0.0.0.0')) as [number];
    const d = await handOverUnderLoad({ bind: '127.0.0.1' }, { bind: '0.0.0.0' }, port);
    await d.waitFor((r) => r.event === 'listening' && r.address === `0.0.0.0:${port}/tcp`, 'listening on 0.0.0.0');
    assert.ok(await closedToJoiners(port, '0.0.0.0'), 'no socket can join the port with SO_REUSEPORT once the old one has closed');
    assert.equal(await foreignBind(port, '127.0.0.1', true), 'EADDRINUSE');
    assert.equal(await foreignBind(port, '127.0.0.1', false), 'EADDRINUSE', 'another program cannot bind the old address');
    assert.equal(await foreignBind(port, '0.0.0.0', false), 'EADDRINUSE');
  });

  test('tcp (dual stack) → tcp4 on the same port with clients connecting throughout: none refused or reset', async () => {
    const [port] = (await freePorts(1, '::')) as [number];
    const d = await handOverUnderLoad({ protocol: 'tcp' }, { protocol: 'tcp4' }, port);
    await d.waitFor((r) => r.event === 'listening' && r.address === `0.0.0.0:${port}/tcp4`, 'listening on 0.0.0.0 (tcp4)');
    assert.ok(await closedToJoiners(port, '0.0.0.0'), 'no socket can join the port with SO_REUSEPORT once the old one has closed');
    assert.equal(await foreignBind(port, '0.0.0.0', false), 'EADDRINUSE');
  });
});

test('a udp builtin, 127.0.0.1:P → 0.0.0.0:P: the new socket binds beside the old one, and holds the port alone', { timeout: 60000 }, async () => {
  const [port] = (await freePorts(1, '0.0.0.0', { udp: true })) as [number];
  const echo = (bind: string): string => serviceFile('e', { protocol: 'udp', port, bind, builtin: 'echo' });
  const d = await daemon({ services: { 'e.conf': echo('127.0.0.1') } });
  assert.equal((await udpExchange(port, 'before', { timeoutMs: 5000 }))?.toString(), 'before');
  await d.writeService('e.conf', echo('0.0.0.0'));
  await d.reload();
  await d.waitFor((r) => r.event === 'listening' && r.address === `0.0.0.0:${port}/udp`, 'the new socket bound at once');
  assert.deepEqual(bindFailures(d), []);
  const taken = bindInet({ type: 'dgram', host: '0.0.0.0', port, ipv6Only: false, reusePort: true });
  if (!(taken instanceof SysError)) taken.close();
  assert.equal(taken instanceof SysError ? taken.code : 'bound', 'EADDRINUSE', 'no socket joins the port with SO_REUSEPORT afterwards');
});

/**
 * A wait handler (SPEC §3) on the socket it got as fd 0, tcp or udp: answers
 * each client with its pid; a client that says `quit` ends it. Node's dgram
 * adopts no descriptor 0, so the shell gives it the socket as fd 3 too.
 */
const WAIT_HANDLER = `
const pid = String(process.pid);
const quit = (d) => String(d).startsWith('quit') && setImmediate(() => process.exit(0));
if (process.env.PROTO === 'UDP') {
  const s = require('node:dgram').createSocket('udp4');
  s.on('message', (d, from) => s.send(pid, from.port, from.address, () => quit(d)));
  s.bind({ fd: 3 });
} else {
  require('node:net').createServer({ allowHalfOpen: true }, (c) => c.on('data', (d) => { c.end(pid); quit(d); })).listen({ fd: 0 });
}
`;

describe('reload of a wait service whose handler holds the old socket', { timeout: 120000 }, () => {
  let scratch = '';
  let script = '';
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'superd-handover-'));
    await chmod(scratch, 0o755);
    script = join(scratch, 'handler.cjs');
    await writeFile(script, WAIT_HANDLER, { mode: 0o644 });
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  const waitService = (protocol: string, port: number, bind: string): string =>
    serviceFile('w', { protocol, port, bind, wait: 'yes', server: '/bin/sh', args: `-c "exec ${process.execPath} ${script} 3<&0"` });

  test('tcp wait, 127.0.0.1:P → 0.0.0.0:P: binds at once; the old address is the running handler\'s until it exits, then the new socket\'s', async () => {
    const [port] = (await freePorts(1, '0.0.0.0')) as [number];
    const d = await daemon({ services: { 'w.conf': waitService('tcp', port, '127.0.0.1') } });
    const first = await exchange(port, 'hello');
    assert.equal(first.how, 'end');
    const oldPid = first.data.toString();
    await d.waitFor((r) => r.event === 'accepted' && r.service === 'w', 'the handler started');
    await d.writeService('w.conf', waitService('tcp', port, '0.0.0.0'));
    await d.reload();
    await d.waitFor((r) => r.event === 'listening' && r.address === `0.0.0.0:${port}/tcp`, 'the new socket bound at once');
    assert.deepEqual(bindFailures(d), []);
    // 127.0.0.1 is the more specific address: while the handler holds that socket it gets those clients.
    assert.equal((await exchange(port, 'again')).data.toString(), oldPid, 'the running handler serves on');
    assert.equal((await exchange(port, 'quit')).data.toString(), oldPid);
    await d.waitFor((r) => r.event === 'exited' && r.service === 'w' && String(r.pid) === oldPid, 'the old handler exited');
    const next = await exchange(port, 'hello');
    assert.equal(next.how, 'end');
    assert.notEqual(next.data.toString(), oldPid, 'a new handler, on the new socket');
    assert.match(next.data.toString(), /^\d+$/);
    assert.ok(await closedToJoiners(port, '127.0.0.1'), 'the port is not left open to SO_REUSEPORT');
    assert.deepEqual(bindFailures(d), []);
  });

  test('udp wait, 127.0.0.1:P → 0.0.0.0:P: binds at once; datagrams reach the running handler, then the new socket', async () => {
    const [port] = (await freePorts(1, '0.0.0.0', { udp: true })) as [number];
    const d = await daemon({ services: { 'w.conf': waitService('udp', port, '127.0.0.1') } });
    const client = udpClient('127.0.0.1');
    try {
      await client.ready;
      await client.send(port, 'hello');
      const oldPid = (await client.next(10000))?.data.toString();
      assert.match(oldPid ?? '', /^\d+$/, 'the handler answered');
      await d.writeService('w.conf', waitService('udp', port, '0.0.0.0'));
      await d.reload();
      await d.waitFor((r) => r.event === 'listening' && r.address === `0.0.0.0:${port}/udp`, 'the new socket bound at once');
      assert.deepEqual(bindFailures(d), []);
      await client.send(port, 'quit');
      assert.equal((await client.next(10000))?.data.toString(), oldPid, 'the running handler still gets 127.0.0.1');
      await d.waitFor((r) => r.event === 'exited' && r.service === 'w' && String(r.pid) === oldPid, 'the old handler exited');
      await client.send(port, 'hello');
      const next = (await client.next(10000))?.data.toString();
      assert.match(next ?? '', /^\d+$/, 'the new socket serves');
      assert.notEqual(next, oldPid);
      assert.deepEqual(bindFailures(d), []);
    } finally {
      client.close();
    }
  });
});
