// The native layer (src/sys/): its structs laid out as glibc's headers say,
// the hosts it refuses, its errors and its uint64 codec, waitid's siginfo_t
// and SO_PEERCRED on real processes and sockets. And what wait services (SPEC
// §3) build on it, on real sockets: sockets made with libc calls, readiness
// through an epoll set and a thread of its own that neither reads nor accepts
// and never makes superd the owner of a file (no SIGIO), and the unix socket
// file (stale, live, in the way, its mode).
// Self-contained: no fixed ports, every wait bounded.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { mkdtemp, mkdir, readFile, rm, stat, writeFile, readdir } from 'node:fs/promises';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { O_CLOEXEC, O_NONBLOCK, P_PID, TCP_CLOSE, WEXITED, WNOHANG, WNOWAIT } from '../src/sys/constants.js';
import { isErrorValue } from '../src/errors.js';
import { errnoError, isSysError, SysError } from '../src/sys/errors.js';
import { koffi, libcFunction } from '../src/sys/koffi.js';
import { loadSys, unsupportedHost, type Sys } from '../src/sys/load.js';
import { structs } from '../src/sys/structs.js';
import { readUint64, writeUint64 } from '../src/sys/uint64.js';
import { bindInet, bindUnix, dropDatagram, peekSource, tcpState, type SysSocket } from '../src/sys/sockets.js';
import { readiness, type Readiness } from '../src/listen/readiness.js';
import { clearStaleSocket, placeUnixSocket, removeOwnSocket } from '../src/listen/unixpath.js';
import { hasIPv6Loopback } from './helpers/clients.js';
import { eventually, sleep } from './helpers/wait.js';

/** Signal-driven I/O, which superd never asks for (src/sys has no use for it). */
const O_ASYNC = 0o20000;
/** How long a watch may take to report a readable fd before the test fails: only there to fail fast. */
const PROMPT_MS = 15000;
const F_GETOWN = 9;
const F_GETSIG = 11;

/** The file status flags of one of our fds, from /proc/self/fdinfo (octal). */
function fdFlags(fd: number): number {
  const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const m = /^flags:\s*([0-7]+)$/m.exec(info);
  assert.ok(m, `no flags line in fdinfo of ${fd}`);
  return parseInt(m[1] ?? '', 8);
}

/**
 * Signal-driven I/O on fd: its O_ASYNC flag, its owner and signal. Any of
 * them set by superd would let whoever shares the open file (a handler)
 * have the kernel signal superd.
 */
function signalDriven(fd: number): { async: boolean; owner: number; signal: number } {
  const fcntl = libcFunction('int fcntl(int fd, int cmd, long arg)');
  return { async: (fdFlags(fd) & O_ASYNC) !== 0, owner: fcntl(fd, F_GETOWN, 0) as number, signal: fcntl(fd, F_GETSIG, 0) as number };
}
const NOT_SIGNAL_DRIVEN = { async: false, owner: 0, signal: 0 };

/** The descriptors of ours that any epoll set in this process has registered (fdinfo's tfd lines). */
function inEpollSets(): Set<number> {
  const registered = new Set<number>();
  for (const name of readdirSync('/proc/self/fd')) {
    let info: string;
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) !== 'anon_inode:[eventpoll]') continue;
      info = readFileSync(`/proc/self/fdinfo/${name}`, 'utf8');
    } catch {
      continue;
    }
    for (const m of info.matchAll(/^tfd:\s*(\d+)/gm)) registered.add(Number(m[1]));
  }
  return registered;
}

function ok<T>(x: T | SysError, what: string): T {
  if (isErrorValue(x)) assert.fail(`${what}: ${x.code} ${x.message}`);
  return x;
}

function theReadiness(): Readiness {
  return ok(readiness(), 'readiness()');
}

interface Watching {
  /** Resolves true once onReadable has run, false if ms pass first. Does not unwatch. */
  fired(ms: number): Promise<boolean>;
  /** Whether onReadable has run. */
  readonly done: boolean;
  /** Whether onReadable ran inside watch(). */
  readonly synchronously: boolean;
}

function watchFd(r: Readiness, fd: number): Watching {
  let inside = true;
  let done = false;
  let synchronously = false;
  const waiters = new Set<() => void>();
  r.watch(fd, () => {
    done = true;
    if (inside) synchronously = true;
    for (const wake of waiters) wake();
  });
  inside = false;
  return {
    get done() {
      return done;
    },
    get synchronously() {
      return synchronously;
    },
    fired: (ms) =>
      new Promise<boolean>((resolve) => {
        if (done) return resolve(true);
        const wake = (): void => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(done);
        };
        const timer = setTimeout(wake, ms);
        waiters.add(wake);
      }),
  };
}

/** Watches fd, which is readable already (level-triggered: no new event is needed), and asserts it is reported. */
async function firesAgain(r: Readiness, fd: number, what = `fd ${fd} reported readable`): Promise<void> {
  const w = watchFd(r, fd);
  assert.equal(await w.fired(PROMPT_MS), true, what);
  assert.equal(w.synchronously, false, 'onReadable must not run inside watch()');
}

async function udpClient(type: 'udp4' | 'udp6'): Promise<UdpSocket> {
  const s = createSocket(type);
  await new Promise<void>((resolve) => s.bind(0, resolve));
  return s;
}

function send(client: UdpSocket, port: number, host: string, data = 'ping'): Promise<void> {
  return new Promise((resolve, reject) => client.send(data, port, host, (err) => (err ? reject(err) : resolve())));
}

function tcpConnect(port: number, host: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const c = connect({ port, host });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

function unixConnect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const c = connect({ path });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

function listenUnix(path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    // No error listener on c: an ECONNRESET from the live/stale probe would fail the test.
    const s = createServer((c) => c.end('hello\n'));
    s.once('error', reject);
    s.listen(path, () => resolve(s));
  });
}

function closeServer(s: Server): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

/** Reads what the server at path says first, bounded. */
async function greeting(path: string): Promise<string> {
  const c = await unixConnect(path);
  return new Promise((resolve, reject) => {
    let data = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no greeting from ${path} within 2 s`));
    }, 2000);
    c.on('data', (d: Buffer) => (data += d.toString()));
    c.on('end', () => {
      clearTimeout(timer);
      c.destroy();
      resolve(data);
    });
    c.on('error', reject);
  });
}

function theSys(): Sys {
  return ok(loadSys(), 'loadSys()');
}

describe('the native layer', () => {
  test('only little-endian 64-bit Linux on x86_64 or aarch64 has it', () => {
    assert.equal(unsupportedHost('linux', 'x64', 'LE'), null);
    assert.equal(unsupportedHost('linux', 'arm64', 'LE'), null);
    for (const [platform, arch, order] of [['linux', 'ppc64', 'BE'], ['linux', 's390x', 'BE'], ['linux', 'mips64el', 'LE'], ['linux', 'ia32', 'LE'], ['linux', 'riscv64', 'LE'], ['darwin', 'arm64', 'LE']] as const) {
      assert.match(unsupportedHost(platform, arch, order) ?? '', new RegExp(`^this host is ${platform} on ${arch} \\(${order}\\): .*x86_64 and aarch64 only$`), `${platform} ${arch}`);
    }
  });

  test("the structs are laid out as glibc's headers say on this host", () => {
    const k = koffi();
    const t = structs();
    const x64 = process.arch === 'x64';
    const layout = (type: Parameters<typeof k.sizeof>[0], members: string[]): number[] => [k.sizeof(type), ...members.map((m) => k.offsetof(type, m))];
    assert.deepEqual(layout(t.siginfo, ['si_code', 'sifields']), [128, 8, 16], 'siginfo_t');
    assert.deepEqual(layout(t.sigchld, ['si_pid', 'si_status']), [32, 0, 8], "SIGCHLD's part of it: si_pid at 16, si_status at 24");
    assert.deepEqual(layout(t.epollEvent, ['data']), x64 ? [12, 4] : [16, 8], 'epoll_event (packed on x86_64 only)');
    assert.deepEqual(layout(t.msghdr, ['msg_iov', 'msg_iovlen', 'msg_control', 'msg_controllen', 'msg_flags']), [56, 16, 24, 32, 40, 48], 'msghdr');
    assert.deepEqual(layout(t.cmsghdrFd, ['cmsg_level', 'cmsg_type', 'fd']), [24, 8, 12, 16], 'CMSG_SPACE(sizeof(int)) 24, CMSG_DATA at 16');
    assert.deepEqual(layout(t.sockaddrIn, ['sin_port', 'sin_addr']), [16, 2, 4], 'sockaddr_in');
    assert.deepEqual(layout(t.sockaddrIn6, ['sin6_port', 'sin6_flowinfo', 'sin6_addr', 'sin6_scope_id']), [28, 2, 4, 8, 24], 'sockaddr_in6');
    assert.deepEqual(layout(t.sockaddrUn, ['sun_path']), [110, 2], 'sockaddr_un');
    assert.equal(k.sizeof(t.sockaddrStorage), 128, 'sockaddr_storage');
    assert.deepEqual(layout(t.pollfd, ['events', 'revents']), [8, 4, 6], 'pollfd');
    assert.deepEqual(layout(t.ucred, ['uid', 'gid']), [12, 4, 8], 'ucred');
    assert.deepEqual(layout(t.rlimit, ['rlim_max']), [16, 8], 'rlimit');
  });

  test('errors are SysErrors with the errno name and words for it, never throws', () => {
    const e = errnoError(98, 'bind 127.0.0.1:7');
    assert.ok(e instanceof Error && isSysError(e));
    assert.equal(e.code, 'EADDRINUSE');
    assert.equal(e.message, 'bind 127.0.0.1:7: address already in use (EADDRINUSE)');
    assert.equal(errnoError(100000).code, 'E100000', 'an errno Node does not know');
    assert.equal(isSysError({ code: 'EIO', message: 'a plain value' }), false);
    assert.equal(isErrorValue({ code: 'EIO', message: 'a plain value' }), true);
    assert.equal(isErrorValue({ code: 'EIO', message: 'a socket', fd: 3 }), false);
  });

  test('uint64 in native memory: exact below 2^53, RLIM_INFINITY both ways', () => {
    const b = Buffer.alloc(8);
    for (const n of [0, 1, 1024, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) {
      writeUint64(b, 0, n);
      assert.equal(b.readBigUInt64LE(0), BigInt(n), `${n} written`);
      assert.equal(readUint64(b, 0), n, `${n} read`);
    }
    writeUint64(b, 0, 2 ** 64);
    assert.equal(b.readBigUInt64LE(0), 2n ** 64n - 1n, '2^64 is written as RLIM_INFINITY');
    assert.equal(readUint64(b, 0), 2 ** 64);
  });

  test("waitid's siginfo_t names the child, how it ended, and its status", async () => {
    const sys = theSys();
    const info = sys.sigInfo();
    for (const [script, exited, status] of [['exit 7', true, 7], ['kill -TERM $$', false, 15]] as const) {
      const child = spawn('/bin/sh', ['-c', script], { stdio: 'ignore' });
      const pid = child.pid ?? -1;
      const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // WNOWAIT leaves the child for libuv to reap; no turn of the event loop until it is seen, so libuv cannot reap it first.
      const deadline = performance.now() + 5000;
      do {
        info.clear();
        assert.equal(sys.waitid(P_PID, pid, info, WEXITED | WNOHANG | WNOWAIT), 0, `waitid: errno ${sys.errno()}`);
      } while (info.pid === 0 && performance.now() < deadline);
      assert.deepEqual({ pid: info.pid, exited: info.exited, status: info.status }, { pid, exited, status }, script);
      await exit;
    }
  });

  test('SO_PEERCRED: the process at the other end of a unix connection', async () => {
    const sys = theSys();
    const dir = await mkdtemp(join(tmpdir(), 'superd-native-cred-'));
    const path = join(dir, 's');
    const accepted: Socket[] = [];
    const server = createServer((c) => accepted.push(c));
    try {
      await new Promise<void>((resolve) => server.listen(path, () => resolve()));
      const client = connect(path);
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
      const deadline = performance.now() + 5000;
      while (accepted.length === 0 && performance.now() < deadline) await new Promise((r) => setImmediate(r));
      const fd = (accepted[0] as unknown as { _handle?: { fd?: number } } | undefined)?._handle?.fd ?? -1;
      assert.deepEqual(sys.peerCredentials(fd), { pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() });
      assert.equal(sys.peerCredentials(-1), null, 'not a socket: null');
      client.destroy();
      for (const c of accepted) c.destroy();
    } finally {
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('native sockets', () => {
  test('inet and unix sockets are close-on-exec and blocking', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'superd-native-'));
    try {
      const made = [
        ok(bindInet({ type: 'dgram', host: '127.0.0.1', port: 0, ipv6Only: false }), 'udp'),
        ok(bindInet({ type: 'stream', host: '127.0.0.1', port: 0, ipv6Only: false }), 'tcp'),
        ok(bindUnix({ path: join(dir, 'u.sock') }), 'unix'),
      ];
      for (const s of made) {
        const flags = fdFlags(s.fd);
        assert.equal(flags & O_CLOEXEC, O_CLOEXEC, `fd ${s.fd} close-on-exec (flags ${flags.toString(8)})`);
        assert.equal(flags & O_NONBLOCK, 0, `fd ${s.fd} blocking (flags ${flags.toString(8)})`);
        assert.equal(flags & O_ASYNC, 0, `fd ${s.fd} not O_ASYNC before watch`);
        s.close();
        s.close(); // idempotent
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('local address and port come from getsockname', () => {
    const s = ok(bindInet({ type: 'dgram', host: '127.0.0.1', port: 0, ipv6Only: false }), 'udp');
    assert.equal(s.localAddress, '127.0.0.1');
    assert.ok(s.localPort > 0 && s.localPort < 65536);
    s.close();
    const any = ok(bindInet({ type: 'stream', host: '0.0.0.0', port: 0, ipv6Only: false }), 'tcp any');
    assert.equal(any.localAddress, '0.0.0.0');
    assert.ok(any.localPort > 0);
    any.close();
  });

  test('EADDRINUSE is a value, for tcp and udp', async () => {
    const tcp = ok(bindInet({ type: 'stream', host: '127.0.0.1', port: 0, ipv6Only: false }), 'tcp');
    const again = bindInet({ type: 'stream', host: '127.0.0.1', port: tcp.localPort, ipv6Only: false });
    assert.ok(isErrorValue(again), 'second tcp bind refused');
    assert.equal(again.code, 'EADDRINUSE');
    assert.match(again.message, /address already in use \(EADDRINUSE\)/);
    tcp.close();

    const udp = ok(bindInet({ type: 'dgram', host: '127.0.0.1', port: 0, ipv6Only: false }), 'udp');
    const udpAgain = bindInet({ type: 'dgram', host: '127.0.0.1', port: udp.localPort, ipv6Only: false });
    assert.ok(isErrorValue(udpAgain));
    assert.equal(udpAgain.code, 'EADDRINUSE');
    udp.close();

    // A port a Node server holds.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    const clash = bindInet({ type: 'stream', host: '127.0.0.1', port: address.port, ipv6Only: false });
    assert.ok(isErrorValue(clash));
    assert.equal(clash.code, 'EADDRINUSE');
    await closeServer(server);
  });

  test('bad input is an error value, not a throw', async () => {
    const notIp = bindInet({ type: 'dgram', host: 'localhost', port: 0, ipv6Only: false });
    assert.ok(isErrorValue(notIp));
    assert.equal(notIp.code, 'EINVAL');
    const badPort = bindInet({ type: 'dgram', host: '127.0.0.1', port: 70000, ipv6Only: false });
    assert.ok(isErrorValue(badPort));
    assert.equal(badPort.code, 'EINVAL');
    const long = bindUnix({ path: '/tmp/' + 'x'.repeat(120) });
    assert.ok(isErrorValue(long));
    assert.equal(long.code, 'ENAMETOOLONG');
    const missingDir = bindUnix({ path: join(tmpdir(), 'superd-no-such-dir-' + process.pid, 's') });
    assert.ok(isErrorValue(missingDir));
    assert.equal(missingDir.code, 'ENOENT');
    assert.match(missingDir.message, /\(ENOENT\)$/);
  });

  test('failures close their fd: the fd count stays flat', async () => {
    const { readdirSync } = await import('node:fs');
    const count = (): number => readdirSync('/proc/self/fd').length;
    const holder = ok(bindInet({ type: 'stream', host: '127.0.0.1', port: 0, ipv6Only: false }), 'tcp');
    const start = count();
    for (let i = 0; i < 200; i++) {
      const clash = bindInet({ type: i % 2 === 0 ? 'stream' : 'dgram', host: '127.0.0.1', port: i % 2 === 0 ? holder.localPort : 1, ipv6Only: false });
      if (i % 2 === 0) assert.ok(isErrorValue(clash));
      else if (!isErrorValue(clash)) clash.close();
      const s = ok(bindInet({ type: 'dgram', host: '127.0.0.1', port: 0, ipv6Only: false }), 'udp');
      s.close();
    }
    assert.equal(count(), start);
    holder.close();
  });

  test('IPv6: v6only on ::1, dual-stack on :: receives from 127.0.0.1', async (t) => {
    if (!(await hasIPv6Loopback())) {
      t.skip('no IPv6 loopback (::1) on this host');
      return;
    }
    const r = theReadiness();
    const v6 = ok(bindInet({ type: 'dgram', host: '::1', port: 0, ipv6Only: true }), 'udp ::1');
    assert.equal(v6.localAddress, '::1');
    const c6 = await udpClient('udp6');
    try {
      const w = watchFd(r, v6.fd);
      await send(c6, v6.localPort, '::1');
      assert.equal(await w.fired(PROMPT_MS), true, 'datagram over ::1 seen');
    } finally {
      r.unwatch(v6.fd);
      v6.close();
      c6.close();
    }

    // ipv6Only is set explicitly either way: a v6only socket on :: leaves the
    // IPv4 port free, a dual-stack one holds it.
    const only = ok(bindInet({ type: 'dgram', host: '::', port: 0, ipv6Only: true }), 'udp :: v6only');
    assert.equal(only.localAddress, '::');
    const v4Beside = bindInet({ type: 'dgram', host: '0.0.0.0', port: only.localPort, ipv6Only: false });
    assert.ok(!isErrorValue(v4Beside), `IPv4 port beside a v6only socket: ${isErrorValue(v4Beside) ? v4Beside.message : ''}`);
    v4Beside.close();
    only.close();

    const dual = ok(bindInet({ type: 'dgram', host: '::', port: 0, ipv6Only: false }), 'udp :: dual');
    const v4Clash = bindInet({ type: 'dgram', host: '0.0.0.0', port: dual.localPort, ipv6Only: false });
    assert.ok(isErrorValue(v4Clash), 'a dual-stack socket holds the IPv4 port');
    assert.equal(v4Clash.code, 'EADDRINUSE');
    const c4 = await udpClient('udp4');
    try {
      const w = watchFd(r, dual.fd);
      await sleep(100);
      await send(c4, dual.localPort, '127.0.0.1');
      assert.equal(await w.fired(PROMPT_MS), true, 'IPv4 datagram seen on the dual-stack socket');
    } finally {
      r.unwatch(dual.fd);
      dual.close();
      c4.close();
    }

    const tcp6 = ok(bindInet({ type: 'stream', host: '::1', port: 0, ipv6Only: true }), 'tcp ::1');
    assert.equal(tcp6.localAddress, '::1');
    tcp6.close();
  });
});

describe('readiness (epoll on a thread of its own, no signals)', () => {
  let r: Readiness;
  before(() => {
    r = theReadiness();
  });

  test('readiness() is one per process', () => {
    assert.equal(readiness(), r);
  });

  test('udp: fires when a datagram arrives, not before, and does not consume it', async () => {
    const s = ok(bindInet({ type: 'dgram', host: '127.0.0.1', port: 0, ipv6Only: false }), 'udp');
    const client = await udpClient('udp4');
    try {
      const w = watchFd(r, s.fd);
      await sleep(200);
      assert.equal(w.done, false, 'nothing fires before a datagram');
      assert.deepEqual(signalDriven(s.fd), NOT_SIGNAL_DRIVEN, 'watched without signal-driven I/O');
      assert.ok(inEpollSets().has(s.fd), 'registered while watched');
      await send(client, s.localPort, '127.0.0.1');
      assert.equal(await w.fired(PROMPT_MS), true, 'fired after the datagram');
      assert.equal(w.synchronously, false);
      assert.equal(inEpollSets().has(s.fd), false, 'out of the set once fired: a handler given it can make nothing happen here');
      // Still unread: watching again fires at once.
      await firesAgain(r, s.fd);
      await firesAgain(r, s.fd);
      r.unwatch(s.fd);
      assert.deepEqual(signalDriven(s.fd), NOT_SIGNAL_DRIVEN);
    } finally {
      r.unwatch(s.fd);
      s.close();
      client.close();
    }
  });

  test('isReadable: a poll of one fd, consuming nothing', async () => {
    const s = ok(bindInet({ type: 'dgram', host: '127.0.0.1', port: 0, ipv6Only: false }), 'udp');
    const client = await udpClient('udp4');
    try {
      assert.equal(r.isReadable(s.fd), false, 'nothing yet');
      await send(client, s.localPort, '127.0.0.1');
      await sleep(20);
      assert.equal(r.isReadable(s.fd), true);
      assert.equal(r.isReadable(s.fd), true, 'still unread');
      assert.equal(inEpollSets().has(s.fd), false, 'isReadable does not arm');
    } finally {
      s.close();
      client.close();
    }
    assert.equal(r.isReadable(s.fd), false, 'a closed fd is not readable');
  });

  test('a datagram that arrived while unwatched is seen at the next watch', async () => {
    const s = ok(bindInet({ type: 'dgram', host: '127.0.0.1', port: 0, ipv6Only: false }), 'udp');
    const client = await udpClient('udp4');
    try {
      await send(client, s.localPort, '127.0.0.1');
      await sleep(50);
      // It was ready before it was registered: epoll reports it at registration.
      await firesAgain(r, s.fd);
    } finally {
      r.unwatch(s.fd);
      s.close();
      client.close();
    }
  });

  test('tcp: fires when a client connects; the connection stays pending', async () => {
    const s = ok(bindInet({ type: 'stream', host: '127.0.0.1', port: 0, ipv6Only: false }), 'tcp');
    let client: Socket | undefined;
    try {
      const w = watchFd(r, s.fd);
      await sleep(200);
      assert.equal(w.done, false, 'nothing fires before a connection');
      client = await tcpConnect(s.localPort, '127.0.0.1');
      assert.equal(await w.fired(PROMPT_MS), true, 'fired after the connection');
      // Not accepted: still pending, so watching again fires at once.
      await firesAgain(r, s.fd);
      let closedByPeer = false;
      client.on('close', () => (closedByPeer = true));
      await sleep(100);
      assert.equal(closedByPeer, false, 'the pending connection is left alone');
    } finally {
      r.unwatch(s.fd);
      client?.destroy();
      s.close();
    }
  });

  test('unix listener: fires when a client connects', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'superd-native-'));
    const s = ok(bindUnix({ path: join(dir, 'w.sock') }), 'unix');
    let client: Socket | undefined;
    try {
      assert.equal(s.localAddress, join(dir, 'w.sock'));
      assert.equal(s.localPort, 0);
      const w = watchFd(r, s.fd);
      await sleep(200);
      assert.equal(w.done, false, 'nothing fires before a connection');
      client = await unixConnect(join(dir, 'w.sock'));
      assert.equal(await w.fired(PROMPT_MS), true, 'fired after the connection');
      await firesAgain(r, s.fd);
    } finally {
      r.unwatch(s.fd);
      client?.destroy();
      s.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('unwatch: no callback afterwards, out of the epoll set, idempotent', async () => {
    const s = ok(bindInet({ type: 'dgram', host: '127.0.0.1', port: 0, ipv6Only: false }), 'udp');
    const client = await udpClient('udp4');
    try {
      let called = false;
      r.watch(s.fd, () => (called = true));
      assert.ok(inEpollSets().has(s.fd));
      r.unwatch(s.fd);
      r.unwatch(s.fd);
      assert.equal(inEpollSets().has(s.fd), false, 'deleted from the set by unwatch');
      await send(client, s.localPort, '127.0.0.1');
      await sleep(300);
      assert.equal(called, false, 'no callback after unwatch');

      // Readable already: watch then unwatch at once; the scheduled check must not call back.
      r.watch(s.fd, () => (called = true));
      r.unwatch(s.fd);
      await sleep(100);
      assert.equal(called, false, 'unwatch right after watch cancels');

      // Watching again replaces the callback: only the newer one runs.
      let first = 0;
      let second = 0;
      r.watch(s.fd, () => first++);
      r.watch(s.fd, () => second++);
      await sleep(100);
      assert.deepEqual([first, second], [0, 1]);
    } finally {
      r.unwatch(s.fd);
      s.close();
      client.close();
    }
  });

  test('many fds at once: each fires for its own datagram only', async () => {
    const sockets: SysSocket[] = [];
    const client = await udpClient('udp4');
    const fired = new Set<number>();
    try {
      for (let i = 0; i < 8; i++) sockets.push(ok(bindInet({ type: 'dgram', host: '127.0.0.1', port: 0, ipv6Only: false }), 'udp'));
      for (const s of sockets) r.watch(s.fd, () => fired.add(s.fd));
      const chosen = sockets.filter((_, i) => i % 3 === 0);
      for (const s of chosen) await send(client, s.localPort, '127.0.0.1');
      const deadline = Date.now() + PROMPT_MS;
      while (fired.size < chosen.length && Date.now() < deadline) await sleep(10);
      await sleep(100);
      assert.deepEqual([...fired].sort(), chosen.map((s) => s.fd).sort());
    } finally {
      for (const s of sockets) {
        r.unwatch(s.fd);
        s.close();
      }
      client.close();
    }
  });

  test('a closed fd watched by mistake is reported once, not polled forever', async () => {
    const s = ok(bindInet({ type: 'dgram', host: '127.0.0.1', port: 0, ipv6Only: false }), 'udp');
    const fd = s.fd;
    s.close();
    // Nothing else may reuse the number meanwhile in this test: we are single-threaded here.
    await firesAgain(r, fd, 'POLLNVAL counts as readable');
    r.unwatch(fd);
  });

  test('a signal-driven owner set on the watched file by someone else changes nothing here', async () => {
    // What a hostile handler sharing the open file does: O_ASYNC and a signal of its choosing.
    // Its owner stays 0 (the handler's F_SETOWN is tried on the real daemon, fault-trust-signals),
    // so the kernel sends nothing; readiness must not rely on signals, nor undo it, and still fire.
    const s = ok(bindInet({ type: 'dgram', host: '127.0.0.1', port: 0, ipv6Only: false }), 'udp');
    const client = await udpClient('udp4');
    const fcntl = libcFunction('int fcntl(int fd, int cmd, long arg)');
    try {
      const w = watchFd(r, s.fd);
      assert.equal(fcntl(s.fd, 10 /* F_SETSIG */, 10 /* SIGUSR1 */), 0);
      assert.equal(fcntl(s.fd, 4 /* F_SETFL */, fdFlags(s.fd) | O_ASYNC), 0);
      await send(client, s.localPort, '127.0.0.1');
      assert.equal(await w.fired(PROMPT_MS), true, 'fired through epoll');
      assert.equal(signalDriven(s.fd).signal, 10, 'left as the other party set it');
    } finally {
      r.unwatch(s.fd);
      s.close();
      client.close();
    }
  });
});

describe('unix socket files', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'superd-unix-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('nothing at the path: null', async () => {
    assert.equal(await clearStaleSocket(join(dir, 'none.sock')), null);
  });

  test('a stale socket file is removed', async () => {
    const path = join(dir, 'stale.sock');
    const s = ok(bindUnix({ path }), 'unix');
    s.close(); // the file stays behind, and refuses connections
    assert.ok((await stat(path)).isSocket());
    assert.equal(await clearStaleSocket(path), null);
    await assert.rejects(stat(path), { code: 'ENOENT' });
    // And a new one can be placed there.
    const placed = await placeUnixSocket<SysSocket>(path, 0o600, (where) => bindUnix({ path: where }));
    assert.ok(!isErrorValue(placed));
    await removeOwnSocket(path, placed.identity); // before close, as documented
    placed.value.close();
  });

  test('a live socket gives EADDRINUSE and keeps working', async () => {
    const path = join(dir, 'live.sock');
    const server = await listenUnix(path);
    try {
      const r = await clearStaleSocket(path);
      assert.ok(r !== null);
      assert.equal(r.code, 'EADDRINUSE');
      assert.equal(r.message, `another program is listening on ${path}`);
      assert.equal(await greeting(path), 'hello\n');
    } finally {
      await closeServer(server);
    }
  });

  test('a regular file or a directory in the way is refused and left untouched', async () => {
    const file = join(dir, 'file.sock');
    await writeFile(file, 'precious\n');
    const before = await stat(file);
    await sleep(20);
    const r = await clearStaleSocket(file);
    assert.ok(r !== null);
    assert.equal(r.code, 'ENOTSOCK');
    assert.equal(r.message, `${file} exists and is not a socket: left untouched`);
    const afterStat = await stat(file);
    assert.equal(await readFile(file, 'utf8'), 'precious\n');
    assert.equal(afterStat.mtimeMs, before.mtimeMs);
    assert.equal(afterStat.ino, before.ino);

    const sub = join(dir, 'dir.sock');
    await mkdir(sub);
    await writeFile(join(sub, 'inside'), 'x');
    const d = await clearStaleSocket(sub);
    assert.ok(d !== null);
    assert.equal(d.code, 'ENOTSOCK');
    assert.deepEqual(await readdir(sub), ['inside']);

    // placeUnixSocket never replaces it either.
    const placed = await placeUnixSocket<SysSocket>(file, 0o600, (where) => bindUnix({ path: where }));
    assert.ok(isErrorValue(placed));
    assert.equal(placed.code, 'EADDRINUSE');
    assert.equal(await readFile(file, 'utf8'), 'precious\n');
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('.superd-')), [], 'no private directory left behind');
  });

  for (const mode of [0o600, 0o666, 0o660]) {
    test(`placeUnixSocket sets mode ${mode.toString(8)} and the socket answers at the final path`, async () => {
      const path = join(dir, `m${mode.toString(8)}.sock`);
      const seen: string[] = [];
      const placed = await placeUnixSocket(path, mode, (where) => {
        seen.push(where);
        return listenUnix(where);
      });
      assert.ok(!isErrorValue(placed), isErrorValue(placed) ? placed.message : '');
      try {
        assert.notEqual(seen[0], path, 'bound in a private directory first');
        const st = await stat(path);
        assert.ok(st.isSocket());
        assert.equal(st.mode & 0o777, mode);
        assert.equal(st.ino, placed.identity.ino);
        assert.equal(await greeting(path), 'hello\n');
        assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('.superd-')), []);
      } finally {
        await removeOwnSocket(path, placed.identity);
        await closeServer(placed.value);
      }
      await assert.rejects(stat(path), { code: 'ENOENT' });
    });
  }

  test('placeUnixSocket with a native socket: readiness sees connections at the final path', async () => {
    const path = join(dir, 'native.sock');
    const placed = await placeUnixSocket<SysSocket>(path, 0o666, (where) => bindUnix({ path: where }));
    assert.ok(!isErrorValue(placed));
    const r = theReadiness();
    let client: Socket | undefined;
    try {
      assert.equal((await stat(path)).mode & 0o777, 0o666);
      const w = watchFd(r, placed.value.fd);
      client = await unixConnect(path);
      assert.equal(await w.fired(PROMPT_MS), true);
    } finally {
      r.unwatch(placed.value.fd);
      client?.destroy();
      await removeOwnSocket(path, placed.identity);
      placed.value.close();
    }
  });

  test('a long directory is no exception: bound in the private directory (reached by descriptor), the mode set before it appears', async () => {
    // dirname + '/.superd-XXXXXX/s' over 107 bytes, the path itself within:
    // the bind goes through /proc/self/fd, whose paths are short.
    const deep = join(dir, 'd'.repeat(Math.max(1, 100 - dir.length - 1)));
    await mkdir(deep);
    const path = join(deep, 'x.sock');
    assert.ok(Buffer.byteLength(path) <= 107, `test path fits: ${path.length}`);
    const seen: string[] = [];
    const placed = await placeUnixSocket<SysSocket>(path, 0o600, (where) => {
      seen.push(where);
      return bindUnix({ path: where });
    });
    assert.ok(!isErrorValue(placed), isErrorValue(placed) ? placed.message : '');
    assert.equal(seen.length, 1);
    assert.match(seen[0] ?? '', /^\/proc\/self\/fd\/\d+\/s$/);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual((await readdir(deep)).filter((n) => n.startsWith('.superd-')), []);
    await removeOwnSocket(path, placed.identity);
    placed.value.close();
    await assert.rejects(stat(path), { code: 'ENOENT' });
  });

  test('a failing bind is returned, and leaves nothing behind', async () => {
    const path = join(dir, 'fail.sock');
    const placed = await placeUnixSocket(path, 0o600, () => ({ code: 'EACCES', message: 'permission denied (EACCES)' }));
    assert.ok(isErrorValue(placed));
    assert.equal(placed.code, 'EACCES');
    const thrown = await placeUnixSocket(path, 0o600, () => {
      throw Object.assign(new Error('boom'), { code: 'EPERM' });
    });
    assert.ok(isErrorValue(thrown));
    assert.equal(thrown.code, 'EPERM');
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('.superd-') || n === 'fail.sock'), []);
  });

  test('removeOwnSocket removes ours, and leaves a replacement alone', async () => {
    const path = join(dir, 'own.sock');
    const placed = await placeUnixSocket<SysSocket>(path, 0o600, (where) => bindUnix({ path: where }));
    assert.ok(!isErrorValue(placed));
    await removeOwnSocket(path, placed.identity);
    await assert.rejects(stat(path), { code: 'ENOENT' });
    placed.value.close();

    // Another program removes our file and binds its own there, while ours is
    // still open (as removeOwnSocket is called: before close).
    const ours = await placeUnixSocket<SysSocket>(path, 0o600, (where) => bindUnix({ path: where }));
    assert.ok(!isErrorValue(ours));
    await rm(path);
    const other = await listenUnix(path);
    try {
      await removeOwnSocket(path, ours.identity);
      assert.equal(await greeting(path), 'hello\n', 'the replacement is still there');
      await removeOwnSocket(join(dir, 'never-there.sock'), ours.identity); // never throws
    } finally {
      ours.value.close();
      await closeServer(other);
    }
  });
});

describe('judging what waits on a socket without taking it (policy of wait and queued connections)', () => {
  test('peekSource names the waiting datagram\'s source and leaves it; dropDatagram takes it away', async () => {
    const sock = bindInet({ type: 'dgram', host: '127.0.0.1', port: 0, ipv6Only: false });
    assert.ok(!isErrorValue(sock));
    const client = createSocket('udp4');
    try {
      assert.equal(peekSource(sock.fd), null, 'nothing waiting');
      await new Promise<void>((resolve) => client.bind(0, '127.0.0.2', () => resolve()));
      await new Promise<void>((resolve, reject) => client.send('hello', sock.localPort, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      assert.ok(await eventually(() => peekSource(sock.fd) !== null, 15000, 10), 'the datagram arrived');
      assert.deepEqual(peekSource(sock.fd), { address: '127.0.0.2', port: client.address().port });
      assert.deepEqual(peekSource(sock.fd), { address: '127.0.0.2', port: client.address().port }, 'peeking twice: still there');
      dropDatagram(sock.fd);
      assert.equal(peekSource(sock.fd), null, 'dropped');
    } finally {
      client.close();
      sock.close();
    }
  });

  test('tcpState tells a reset connection from a half-closed one', async () => {
    const fds: number[] = [];
    const server = createServer({ pauseOnConnect: true }, (s) => fds.push((s as unknown as { _handle: { fd: number } })._handle.fd));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as { port: number }).port;
    try {
      const halfClosed = connect(port, '127.0.0.1', () => halfClosed.end());
      const reset = connect(port, '127.0.0.1', () => reset.resetAndDestroy());
      reset.on('error', () => undefined);
      // Until both are accepted and the reset and the FIN have arrived (bounded): then the states are final.
      const states = (): (number | null)[] => fds.map((fd) => tcpState(fd)).sort();
      await eventually(() => fds.length === 2 && states().join() === [TCP_CLOSE, 8].join(), 15000, 10);
      assert.deepEqual(states(), [TCP_CLOSE, 8], 'one closed by a reset, one in CLOSE_WAIT');
      halfClosed.destroy();
    } finally {
      server.close();
    }
  });
});
