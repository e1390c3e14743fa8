// Upgrade in place (issue 27, superd.8 UPGRADING): `superd upgrade` re-execs
// the running daemon, same pid, without closing a listening socket. Proven
// against the real daemon: clients connecting through an upgrade are every
// one served; a handler started before it is reaped and logged by the new
// image; a new image that cannot load leaves the old one serving; reload,
// SIGHUP, status and a second upgrade work after it; no descriptor leaks and
// no handler sees the state's variable or descriptor; a move still waiting
// to bind keeps its old socket serving; a kept socket is handed over when a
// reload moves it to an overlapping address; a builtin's connection is served
// on by the new image.
import assert from 'node:assert/strict';
import { closeSync, writeSync } from 'node:fs';
import { cp, mkdir, readdir, readlink, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { exchange, freePorts, holdConnection, tryConnect, type HeldConnection } from './helpers/clients.js';
import { ROOT, runSuperd, scratchDirs, serviceFile, startDaemon, startServices, daemonStatus, type CliResult, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { SysError } from '../src/sys/errors.js';
import { memfdCreate } from '../src/sys/reexec.js';
import { bindInet } from '../src/sys/sockets.js';
import { STATE_MEMFD_NAME } from '../src/upgrade/exec.js';
import { STATE_VARIABLE } from '../src/upgrade/state.js';
import { childrenOf, fdCount, processExists } from './helpers/proc.js';
import { clientLoop, socketFiltersAllowed } from './helpers/loop.js';
import { eventually } from './helpers/wait.js';

const CAT = { protocol: 'tcp', bind: '127.0.0.1', server: '/bin/cat' };
const UPGRADE_MS = 90000;
const scratch = scratchDirs('superd-upgrade-');

function upgrade(d: DaemonHandle): Promise<CliResult> {
  return runSuperd(['upgrade', '--control-socket', d.controlSocket], { timeoutMs: UPGRADE_MS });
}

function count(d: DaemonHandle, event: string): number {
  return d.logs.filter((r) => r.event === event).length;
}

/** The kernel's start time of pid (field 22 of /proc/PID/stat): the same pid with the same value is the same process. */
async function startTime(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

test('clients connecting through an upgrade: every one served, none refused or reset, the same pid', { timeout: 180000 }, async () => {
  const { d, port } = await startServices({ echo: CAT });
  const p = port.echo ?? 0;
  const born = await startTime(d.pid);
  let servedAfter = 0;
  const loop = clientLoop(p, 6, {
    timeoutMs: 30000,
    onServed: () => {
      if (count(d, 'upgraded') > 0) servedAfter += 1;
    },
  });
  const { failures } = loop;
  let result: CliResult;
  try {
    // Clients are under way before the upgrade, and go on until some are served by the new image.
    assert.ok(await eventually(() => loop.served() >= 12, 30000), 'clients served before the upgrade');
    result = await upgrade(d);
    assert.ok(await eventually(() => servedAfter >= 12 || failures.length > 0, 30000), 'clients served after the upgrade');
  } finally {
    await loop.stop();
  }
  try {
    assert.equal(result.code, 0, `superd upgrade: ${result.stderr}`);
    assert.match(result.stdout, new RegExp(`^upgraded: pid ${d.pid}, superd \\S+ \\(was \\S+\\)\\n$`));
    assert.deepEqual(failures, []);
    const upgraded = await d.waitFor((r) => r.event === 'upgraded', 'upgraded');
    assert.equal(upgraded.pid, d.pid);
    assert.equal(await startTime(d.pid), born, 'the very same process');
    // The socket was never bound again, nor reported as failing.
    assert.equal(count(d, 'bind_failed'), 0);
    assert.ok(d.logs.some((r) => r.event === 'listening' && r.service === 'echo' && r.from === 'upgrade'));
    const st = await daemonStatus(d.controlSocket);
    assert.equal(st.pid, d.pid);
    assert.equal(st.services[0]?.accepted, loop.served(), 'figures go on across the upgrade');
  } finally {
    await d.stop();
  }
});

test('a handler started before the upgrade is reaped and logged by the new image, its stderr still read, no zombie', { timeout: 120000 }, async () => {
  const slow = { protocol: 'tcp', bind: '127.0.0.1', server: '/bin/sh', args: `-c 'read line; echo "late $line" >&2; echo "got $line"'` };
  const { d, port } = await startServices({ slow });
  try {
    const held = await holdConnection(port.slow ?? 0);
    const accepted = await d.waitFor((r) => r.event === 'accepted' && r.service === 'slow', 'accepted');
    const pid = Number(accepted.pid);
    const result = await upgrade(d);
    assert.equal(result.code, 0, `superd upgrade: ${result.stderr}`);
    assert.ok(processExists(pid), 'the handler runs on through the upgrade');
    held.send('hello\n');
    await held.waitForData('got hello\n');
    const exited = await d.waitFor((r) => r.event === 'exited' && r.pid === pid, 'the handler exited');
    assert.equal(exited.code, 0);
    const at = (r: LogRecord): number => d.logs.indexOf(r);
    assert.ok(at(exited) > at(await d.waitFor((r) => r.event === 'upgraded', 'upgraded')), 'logged by the new image');
    await d.waitFor((r) => r.event === 'stderr' && r.pid === pid && r.message === 'late hello', 'its stderr line, written after the upgrade');
    assert.ok(await eventually(async () => !processExists(pid), 10000), 'reaped');
    assert.deepEqual((await childrenOf(d.pid)).filter((c) => c.state === 'Z'), []);
    held.destroy();
  } finally {
    await d.stop();
  }
});

/** This checkout's runnable tree (bin/, dist/src, package.json, node_modules linked) copied to a scratch directory. */
async function copyOfSuperd(): Promise<string> {
  const copy = await scratch();
  await cp(join(ROOT, 'bin'), join(copy, 'bin'), { recursive: true });
  await mkdir(join(copy, 'dist'));
  await cp(join(ROOT, 'dist', 'src'), join(copy, 'dist', 'src'), { recursive: true });
  await cp(join(ROOT, 'package.json'), join(copy, 'package.json'));
  await symlink(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  return copy;
}

test('a broken new image: `superd upgrade` exits 1 naming the problem, the same superd serves on', { timeout: 120000 }, async () => {
  const copy = await copyOfSuperd();
  // The same pid as the copy's node (exec): the command line startDaemon builds, with the copy's bin/superd in place of ours.
  const launcher = ['/bin/sh', '-c', `node=$1; shift 2; exec "$node" "${join(copy, 'bin', 'superd')}" "$@"`, 'sh'];
  const { d, port } = await startServices({ echo: CAT }, { launcher });
  try {
    await writeFile(join(copy, 'dist', 'src', 'daemon.js'), 'export class Daemon {\n  this is not javascript\n}\n');
    const result = await upgrade(d);
    assert.equal(result.code, 1, `superd upgrade: ${result.stdout}`);
    assert.match(result.stderr, /^superd upgrade: not upgraded: the new image failed to load \(exit status 1\): .*daemon\.js.*SyntaxError/s);
    const failed = await d.waitFor((r) => r.event === 'upgrade_failed', 'upgrade_failed');
    assert.match(String(failed.error), /daemon\.js/);
    assert.equal(count(d, 'upgraded'), 0);
    assert.equal((await daemonStatus(d.controlSocket)).pid, d.pid);
    const r = await exchange(port.echo ?? 0, 'still here\n');
    assert.equal(r.data.toString(), 'still here\n');
    // A missing module fails the same way.
    await writeFile(join(copy, 'dist', 'src', 'daemon.js'), "export { Daemon } from './no-such-module.js';\n");
    const again = await upgrade(d);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no-such-module/);
  } finally {
    await d.stop();
  }
});

test('after an upgrade: reload adds a service, status answers, SIGHUP reloads, a second upgrade works', { timeout: 180000 }, async () => {
  const { d, port } = await startServices({ echo: CAT });
  try {
    assert.equal((await upgrade(d)).code, 0);
    const ports = await import('./helpers/clients.js').then((c) => c.freePorts(1));
    await d.writeService('more.conf', serviceFile('more', { ...CAT, port: ports[0] ?? 0 }));
    const reload = await runSuperd(['reload', '--control-socket', d.controlSocket]);
    assert.equal(reload.code, 0, reload.stderr);
    assert.equal((await exchange(ports[0] ?? 0, 'more\n')).data.toString(), 'more\n');
    const st = await daemonStatus(d.controlSocket);
    assert.deepEqual(st.services.map((s) => s.name).sort(), ['echo', 'more']);
    const summary = await d.reload();
    assert.equal(summary.errors, 0);
    const second = await upgrade(d);
    assert.equal(second.code, 0, second.stderr);
    await d.waitForCount((r) => r.event === 'upgraded', 2, 'the second upgraded');
    assert.equal((await exchange(port.echo ?? 0, 'echo\n')).data.toString(), 'echo\n');
    assert.equal((await exchange(ports[0] ?? 0, 'more\n')).data.toString(), 'more\n');
  } finally {
    await d.stop();
  }
});

/** What superd holds, by kind: sockets by inode, memfds, everything. */
async function descriptors(pid: number): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await readdir(`/proc/${pid}/fd`)) out.push(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => 'gone'));
  return out;
}

test('no descriptor leaks through an upgrade; handlers never see the state variable or an extra descriptor', { timeout: 180000 }, async () => {
  const probe = { protocol: 'tcp', bind: '127.0.0.1', server: '/bin/sh', args: `-c 'env | sort; ls -1 /proc/self/fd'`, pass_env: 'SUPERD_UPGRADE_STATE SUPERD_UPGRADE_TRIAL' };
  const { d, port } = await startServices({ probe, echo: CAT });
  try {
    const seen = async (): Promise<string> => (await exchange(port.probe ?? 0, '')).data.toString();
    const before = await seen();
    const held = await descriptors(d.pid);
    assert.equal((await upgrade(d)).code, 0);
    const once = await fdCount(d.pid);
    assert.equal((await upgrade(d)).code, 0);
    assert.equal(await fdCount(d.pid), once, 'a second upgrade holds exactly as many descriptors as the first');
    const after = await descriptors(d.pid);
    assert.ok(after.length <= held.length, `${after.length} descriptors after, ${held.length} before`);
    assert.deepEqual(after.filter((l) => l.startsWith('/memfd:')), [], 'no memfd left');
    const sockets = after.filter((l) => l.startsWith('socket:'));
    assert.equal(new Set(sockets).size, sockets.length, 'no socket held twice');
    const now = await seen();
    assert.doesNotMatch(now, /SUPERD_UPGRADE/);
    // The same environment and the same descriptors (0, 1, 2, and ls's own) as before the upgrade.
    const ports = /^(TCPREMOTEPORT|REMOTE_PORT)=.*$/gm;
    assert.equal(now.replace(ports, ''), before.replace(ports, ''));
  } finally {
    await d.stop();
  }
});

test('a state the new image cannot read: logged, and superd starts, serving on the sockets the old image left open', { timeout: 60000 }, async () => {
  // What a broken old image might leave: a memfd of the right name with no state in it, and a listening socket.
  const memfd = memfdCreate(STATE_MEMFD_NAME);
  assert.ok(!(memfd instanceof SysError), String(memfd));
  writeSync(memfd, '{"format": 1, "listeners": [');
  const [port] = await freePorts(1);
  const socket = bindInet({ type: 'stream', host: '127.0.0.1', port: port ?? 0, ipv6Only: false, backlog: 16 });
  assert.ok(!(socket instanceof SysError), String(socket));
  const d = await startDaemon({
    services: { 'echo.conf': serviceFile('echo', { ...CAT, port: port ?? 0 }) },
    passFds: [memfd, socket.fd],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', [STATE_VARIABLE]: '3' },
  });
  closeSync(memfd);
  socket.close();
  try {
    const failed = await d.waitFor((r) => r.event === 'upgrade_state', 'upgrade_state');
    assert.match(String(failed.message), /the upgrade state is not JSON/);
    assert.ok(d.logs.some((r) => r.event === 'listening' && r.service === 'echo' && r.fd === 4), 'the socket left open is served');
    assert.equal(d.logs.filter((r) => r.event === 'bind_failed').length, 0);
    assert.equal((await exchange(port ?? 0, 'on\n')).data.toString(), 'on\n');
  } finally {
    await d.stop();
  }
});

test('proxy_protocol through an upgrade: a queued connection keeps the client its header named, a header half sent is read whole by the new image', { timeout: 120000 }, async () => {
  const proxied = {
    protocol: 'tcp', bind: '127.0.0.1', proxy_protocol: 'v1', proxy_from: '127.0.0.1', max_children: 1,
    server: '/bin/sh', args: `-c 'echo "client=$TCPREMOTEIP:$TCPREMOTEPORT balancer=$PROXYREMOTEIP"; exec cat'`,
  };
  const { d, port } = await startServices({ proxied });
  const p = port.proxied ?? 0;
  const held: HeldConnection[] = [];
  try {
    // One runs (the only slot), one waits in the queue, one has sent half its header.
    const running = await holdConnection(p);
    held.push(running);
    running.send('PROXY TCP4 192.0.2.1 127.0.0.1 1111 80\r\n');
    await running.waitForData('client=192.0.2.1:1111 balancer=127.0.0.1\n');
    const queued = await holdConnection(p);
    held.push(queued);
    queued.send('PROXY TCP4 192.0.2.2 127.0.0.1 2222 80\r\nfirst\n');
    await d.waitFor((r) => r.event === 'queued' && r.remote === '192.0.2.2', 'the second client queued');
    const half = await holdConnection(p);
    held.push(half);
    half.send('PROXY TCP4 192.0');
    const result = await upgrade(d);
    assert.equal(result.code, 0, `superd upgrade: ${result.stderr}`);
    half.send('.2.3 127.0.0.1 3333 80\r\nthird\n');
    // The slot frees: the queued client is served as the client its header named, then the third.
    running.socket.end();
    await queued.waitForData('client=192.0.2.2:2222 balancer=127.0.0.1\nfirst\n');
    queued.socket.end();
    await half.waitForData('client=192.0.2.3:3333 balancer=127.0.0.1\nthird\n');
    half.socket.end();
    assert.equal(d.logs.filter((r) => r.event === 'refused').length, 0, 'nothing refused');
  } finally {
    for (const h of held) h.destroy();
    await d.stop();
  }
});

/** A plain Node listener holding 127.0.0.1:port, as another program would. */
async function occupy(port: number): Promise<Server> {
  const busy = createServer((s) => s.end('squatter\n'));
  await new Promise<void>((resolve, reject) => {
    busy.once('error', reject);
    busy.listen(port, '127.0.0.1', () => resolve());
  });
  return busy;
}

test('a move still waiting to bind at the upgrade: the new image serves the old socket (its own, or systemd\'s) until the new address binds', { timeout: 120000 }, async () => {
  // mover's socket superd binds; sdmover's a service manager passed (socket activation).
  const [oldPort = 0, newPort = 0, sdNewPort = 0] = await freePorts(3);
  const sd = bindInet({ type: 'stream', host: '127.0.0.1', port: 0, ipv6Only: false });
  if (sd instanceof SysError) return assert.fail(sd.message);
  const sdPort = sd.localPort;
  const at = (name: string, port: number): string => serviceFile(name, { ...CAT, port });
  let d: DaemonHandle;
  try {
    d = await startDaemon({
      services: { 'mover.conf': at('mover', oldPort), 'sdmover.conf': at('sdmover', sdPort) },
      passFds: [sd.fd],
      // Adopted by its address: one named after its service would go to the service wherever it moved.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LISTEN_FDS: '1', LISTEN_FDNAMES: 'unknown' },
      launcher: ['/bin/sh', '-c', 'export LISTEN_PID=$$; exec "$@"', 'sh'],
    });
  } finally {
    sd.close();
  }
  let busy: Server[] = [await occupy(newPort), await occupy(sdNewPort)];
  try {
    await d.writeService('mover.conf', at('mover', newPort));
    await d.writeService('sdmover.conf', at('sdmover', sdNewPort));
    await d.reload();
    await d.waitForCount((r) => r.event === 'bind_failed', 2, 'bind_failed for both in the old image');
    const result = await upgrade(d);
    assert.equal(result.code, 0, `superd upgrade: ${result.stderr}`);
    await d.waitFor((r) => r.event === 'upgraded', 'upgraded');
    const begun = d.logs.findIndex((r) => r.event === 'upgrade');
    const inNewImage = (r: LogRecord): boolean => d.logs.indexOf(r) > begun;
    const kept = (service: string): LogRecord | undefined => d.logs.find((r) => inNewImage(r) && r.event === 'listening' && r.service === service);
    assert.deepEqual([kept('mover')?.address, kept('mover')?.from], [`127.0.0.1:${oldPort}/tcp`, 'upgrade'], 'the very socket the old image served, not bound again');
    assert.deepEqual([kept('sdmover')?.address, kept('sdmover')?.from], [`127.0.0.1:${sdPort}/tcp`, 'systemd']);
    assert.equal(d.logs.filter((r) => inNewImage(r) && r.event === 'bind_failed').length, 2, 'the new image tries both new addresses');
    assert.equal((await exchange(oldPort, 'old port\n')).data.toString(), 'old port\n', 'the old port serves after the upgrade');
    assert.equal((await exchange(sdPort, 'systemd port\n')).data.toString(), 'systemd port\n');
    await Promise.all(busy.map((b) => new Promise<void>((resolve) => b.close(() => resolve()))));
    busy = [];
    // The next try, at most 30 s after the new image's first.
    for (const port of [newPort, sdNewPort]) {
      await d.waitFor((r) => inNewImage(r) && r.event === 'listening' && r.address === `127.0.0.1:${port}/tcp`, `127.0.0.1:${port} bound`, 40000);
      assert.equal((await exchange(port, 'new port\n')).data.toString(), 'new port\n');
    }
    assert.ok(await eventually(async () => (await tryConnect(oldPort)) === 'ECONNREFUSED', 15000), 'the old socket closed once the new one serves');
    assert.equal(count(d, 'socket_unused'), 0);
  } finally {
    for (const b of busy) b.close();
    await d.stop();
  }
});

test('after an upgrade, a reload to an overlapping address hands the kept socket over: no client refused', { timeout: 180000 }, async () => {
  const [p = 0] = await freePorts(1, '0.0.0.0');
  const at = (bind: string): string => serviceFile('c', { ...CAT, bind, port: p });
  const d = await startDaemon({ services: { 'c.conf': at('127.0.0.1') }, args: ['--shutdown-grace', '1'] });
  const loop = clientLoop(p, 6, { timeoutMs: 10000 });
  const { failures } = loop;
  try {
    // Each round: the socket the upgrade kept is moved, 127.0.0.1:P → 0.0.0.0:P and back, while clients connect.
    for (const [round, bind] of ['0.0.0.0', '127.0.0.1', '0.0.0.0'].entries()) {
      const result = await upgrade(d);
      assert.equal(result.code, 0, `superd upgrade: ${result.stderr}`);
      await d.waitForCount((r) => r.event === 'upgraded', round + 1, 'upgraded');
      const mark = loop.served();
      assert.ok(await eventually(() => loop.served() >= mark + 12, 30000), 'clients served by the new image');
      await d.writeService('c.conf', at(bind));
      assert.equal((await d.reload()).changed, 1, 'the service moved');
      const moved = loop.served();
      assert.ok(await eventually(() => loop.served() >= moved + 12, 30000), 'clients served on the new socket');
    }
  } finally {
    await loop.stop();
  }
  try {
    const unexpected = socketFiltersAllowed() ? failures : failures.filter((f) => !f.includes('ECONNRESET'));
    assert.deepEqual(unexpected, [], `every client served across 3 hand-overs of a kept socket (${loop.served()} served)`);
    assert.equal(count(d, 'bind_failed'), 0, 'each new socket bound beside the kept one');
    const moves = d.logs.filter((r) => r.event === 'listening' && r.service === 'c').map((r) => `${String(r.address)} ${String(r.from ?? 'bound')}`);
    assert.deepEqual(moves, [
      `127.0.0.1:${p}/tcp bound`,
      `127.0.0.1:${p}/tcp upgrade`,
      `0.0.0.0:${p}/tcp bound`,
      `0.0.0.0:${p}/tcp upgrade`,
      `127.0.0.1:${p}/tcp bound`,
      `127.0.0.1:${p}/tcp upgrade`,
      `0.0.0.0:${p}/tcp bound`,
    ]);
  } finally {
    await d.stop();
  }
});

test('a connection a builtin serves goes on through an upgrade: echoed before and after, one accepted and one exited line', { timeout: 120000 }, async () => {
  const { d, port } = await startServices({ echo: { protocol: 'tcp', bind: '127.0.0.1', builtin: 'echo', timeout: 600 } });
  const held = await holdConnection(port.echo ?? 0);
  try {
    held.send('before\n');
    await held.waitForData('before\n');
    const result = await upgrade(d);
    assert.equal(result.code, 0, `superd upgrade: ${result.stderr}`);
    held.send('after\n');
    await held.waitForData('before\nafter\n');
    assert.equal(held.received().toString(), 'before\nafter\n', 'every byte echoed once');
    const st = await daemonStatus(d.controlSocket);
    assert.equal(st.services[0]?.running, 1, 'the new image counts it');
    held.socket.end();
    assert.equal(await held.closed, 'end', 'the new image ends it as the client ends');
    const upgraded = await d.waitFor((r) => r.event === 'upgraded', 'upgraded');
    const exited = await d.waitFor((r) => r.event === 'exited' && r.service === 'echo', 'its exited line');
    assert.ok(d.logs.indexOf(exited) > d.logs.indexOf(upgraded), 'written by the new image');
    assert.equal(exited.builtin, 'echo');
    assert.equal(count(d, 'accepted'), 1, 'accepted once, by the old image');
    assert.equal((await daemonStatus(d.controlSocket)).services[0]?.accepted, 1);
  } finally {
    held.destroy();
    await d.stop();
  }
});
