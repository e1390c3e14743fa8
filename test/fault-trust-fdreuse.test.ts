// No descriptor number a queued spawn names is closed before that spawn
// returns (issue 23). posix_spawn's file actions name descriptors by number,
// and the spawn runs later on libuv's pool: a wait service's socket closed on
// reload or removal meanwhile would free its number for the next accept, and
// the handler would be given somebody else's connection.
//
// In the daemon the race needs a reload to complete while a spawn waits for
// the pool, but a reload reads the services dir on that same pool, behind the
// spawn: held busy from outside, the pool runs the spawn first. So this test
// holds every pool thread of its own process and drives the pieces the daemon
// uses (HandlerSpawner with posix_spawn, a udp wait listener and its close())
// in the order the race needs, which it then decides alone.
import assert from 'node:assert/strict';
import { closeSync, openSync, read, readdirSync, readFileSync, readlinkSync, writeSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { ServiceDefinition } from '../src/config/types.js';
import type { WaitSocket } from '../src/listen/connection.js';
import { listenWait } from '../src/listen/wait.js';
import { closeWhenFree, hold, holdsOn, release } from '../src/spawn/fd-holds.js';
import { O_CLOEXEC } from '../src/sys/constants.js';
import { loadSys } from '../src/sys/load.js';
import { HandlerSpawner } from '../src/spawn/spawner.js';
import { isSpawnError, type SpawnResult } from '../src/spawn/types.js';
import { freePorts } from './helpers/clients.js';
import { tempDir } from './helpers/daemon.js';
import { eventually, within } from './helpers/wait.js';

const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
/** read(2)'s number in /proc/TID/syscall. */
const SYS_READ: Partial<Record<string, number>> = { x64: 0, arm64: 63 };
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('fd holds: a close waits for every spawn naming the number', () => {
  test('a number no spawn names is closed at once', async () => {
    let closed = 0;
    await closeWhenFree(1001, () => (closed += 1));
    assert.equal(closed, 1);
  });

  test('held twice: closed once both have returned, and the promise resolves then', async () => {
    let closed = 0;
    hold(1002);
    hold(1002);
    let resolved = false;
    const closing = closeWhenFree(1002, () => (closed += 1)).then(() => (resolved = true));
    release(1002);
    await Promise.resolve();
    assert.equal(closed, 0, 'one spawn still names it');
    assert.equal(holdsOn(1002), 1);
    release(1002);
    assert.equal(closed, 1);
    await closing;
    assert.equal(resolved, true);
    assert.equal(holdsOn(1002), 0);
  });

  test('a close that throws still settles; the number is free for the next hold', async () => {
    hold(1003);
    const closing = closeWhenFree(1003, () => {
      throw new Error('EBADF');
    });
    assert.throws(() => release(1003), /EBADF/);
    await closing;
    assert.equal(holdsOn(1003), 0);
  });
});

/** What the kernel says fd is: `socket:[INODE]`, a path, or null when closed. */
function whatIs(fd: number): string | null {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/** Every descriptor of this process that is `link`. */
function descriptorsOf(link: string): number[] {
  return readdirSync('/proc/self/fd').map(Number).filter((fd) => whatIs(fd) === link);
}

/** The pool's size as libuv reads it when it starts the pool: UV_THREADPOOL_SIZE, 1..1024, default 4. */
function poolSize(value: string | undefined = process.env.UV_THREADPOOL_SIZE): number {
  if (value === undefined) return 4;
  const n = Number.parseInt(value, 10);
  if (!Number.isFinite(n) || n <= 0) return 1;
  return Math.min(n, 1024);
}

/** Whether a /proc/TID/syscall line (`NR ARG0 ...`, arguments in hex) shows a thread blocked in read(fd). */
function blockedInRead(line: string, sysRead: number, fd: number): boolean {
  const [nr, arg0] = line.trim().split(' ');
  return nr !== undefined && arg0 !== undefined && Number(nr) === sysRead && Number(arg0) === fd;
}

/** How many threads of this process are blocked in read() on one of fds, or null when /proc cannot tell. */
function threadsReading(fds: number[]): number | null {
  const sysRead = SYS_READ[process.arch];
  if (sysRead === undefined) return null;
  let n = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    let line: string;
    try {
      line = readFileSync(`/proc/self/task/${tid}/syscall`, 'utf8');
    } catch {
      continue;
    }
    if (fds.some((fd) => blockedInRead(line, sysRead, fd))) n += 1;
  }
  return n;
}

function waitDefinition(port: number): ServiceDefinition {
  return {
    name: 'fdreuse', origin: { file: 'fdreuse.conf', line: 1 }, protocol: 'udp', port, bind: '127.0.0.1', path: null, socketMode: 0o666, wait: true,
    handler: { kind: 'server', program: '/bin/sh', argv: ['sh'] }, credentials: null, maxChildren: 1, queue: 1, maxPerSource: null,
    rate: null, ratePerSource: null, onlyFrom: null, noAccess: [], env: [], passEnv: [], timeout: null, stderr: 'null', disabled: false, proxy: null,
  };
}

describe('a wait socket removed while its spawn waits for the pool', { timeout: 60000 }, () => {
  test('with every pool thread held busy: the handler gets the socket it was given, not the connection that took its number; the socket is closed once the spawn has returned', async (t) => {
    const sys = loadSys();
    if (sys instanceof Error) return t.skip(`koffi cannot load, so there is no posix_spawn path: ${sys.message}`);
    if (threadsReading([]) === null) return t.skip('/proc/TID/syscall cannot be read here: the held pool cannot be seen');
    const dir = await tempDir('superd-fdreuse-');
    dirs.push(dir);
    const out = join(dir, 'fd0');
    const spawner = await HandlerSpawner.create({ usePosixSpawn: true, self });
    assert.equal(spawner.name.startsWith('posix_spawn'), true, spawner.name);

    // A udp wait service, as the daemon makes it, and its socket once a datagram is there.
    const [port = 0] = await freePorts(1, '127.0.0.1', { udp: true });
    let reported: (s: WaitSocket) => void = () => undefined;
    const readable = new Promise<WaitSocket>((resolve) => (reported = resolve));
    const listener = await listenWait(waitDefinition(port), (s) => reported(s));
    assert.ok(!('code' in listener), JSON.stringify(listener));
    const client = createSocket('udp4');
    client.send('hello', port, '127.0.0.1');
    const socket = await within(readable, 15000, 'the datagram reported');
    client.close();
    const socketLink = whatIs(socket.fd);
    assert.match(String(socketLink), /^socket:\[\d+\]$/);

    // Every pool thread blocked in a read of an empty pipe of ours.
    const size = poolSize();
    const pipes: { r: number; w: number }[] = [];
    for (let i = 0; i < size; i++) {
      const fds = new Int32Array(2);
      assert.equal(sys.pipe2(fds, O_CLOEXEC), 0);
      pipes.push({ r: fds[0] ?? -1, w: fds[1] ?? -1 });
    }
    const reads = pipes.map(({ r }) => new Promise<void>((resolve) => read(r, Buffer.alloc(1), 0, 1, null, () => resolve())));
    const readFds = pipes.map((p) => p.r);
    assert.ok(await eventually(() => threadsReading(readFds) === size, 10000), `all ${size} pool threads held (${String(threadsReading(readFds))} seen)`);

    // The handler says what its fd 0 is.
    const spawned: { result: SpawnResult | null; exited: boolean } = { result: null, exited: false };
    spawner.spawn(
      { program: '/bin/sh', argv: ['sh', '-c', `readlink /proc/self/fd/0 > ${out}`], env: ['PATH=/usr/bin:/bin'], fd: socket.fd, stderr: 'null', credentials: null },
      (r) => (spawned.result = r),
      () => (spawned.exited = true),
    );
    // The service is removed: its socket is closed, or put off while the spawn names it.
    let closed = false;
    const closing = Promise.resolve(listener.close()).then(() => (closed = true));
    await new Promise((resolve) => setImmediate(resolve));
    // The next connections take the lowest free numbers.
    const others: number[] = [];
    const another = join(dir, 'another-clients-connection');
    for (let i = 0; i <= socket.fd; i++) {
      const fd = openSync(another, 'w');
      others.push(fd);
      if (fd >= socket.fd) break;
    }
    const stolen = whatIs(socket.fd) !== socketLink;
    assert.equal(spawned.result, null, 'the spawn is still queued behind the held pool');

    // The pool goes on.
    for (const { w } of pipes) writeSync(w, 'x');
    await within(Promise.all(reads), 10000, 'the held reads returned');
    assert.ok(await eventually(() => spawned.result !== null, 10000), 'the spawn returned');
    assert.ok(await eventually(() => spawned.exited, 10000), 'the handler exited');
    const handlerFd0 = readFileSync(out, 'utf8').trim();
    for (const fd of others) closeSync(fd);
    for (const { r, w } of pipes) {
      sys.close(r);
      sys.close(w);
    }

    const { result } = spawned;
    assert.ok(result !== null && !isSpawnError(result), `the handler started: ${JSON.stringify(result)}`);
    assert.equal(stolen, false, `fd ${socket.fd} was closed under the queued spawn and taken by the next open`);
    assert.equal(handlerFd0, socketLink, "the handler's fd 0 is the wait service's socket");
    await within(closing, 15000, 'the socket closed once the spawn returned');
    assert.equal(closed, true);
    assert.deepEqual(descriptorsOf(String(socketLink)), [], 'the socket is closed');
    assert.equal(holdsOn(socket.fd), 0, 'no hold is left');
  });
});
