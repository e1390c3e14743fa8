// Issue 14: a handler must never get superd's own fd 0 and 1. The connection's
// descriptor comes from a Node internal that reports -1 for a closed handle,
// and glibc refuses a posix_spawn file action (EBADF for fd -1) by not adding
// it: the child then keeps superd's stdin and stdout. So the fd is checked,
// and so is every file action's return code; either refuses the spawn.
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadSys as loadLibc, type Sys as Libc } from '../src/sys/load.js';
import { PosixSpawner } from '../src/spawn/posix.js';
import { HandlerSpawner } from '../src/spawn/spawner.js';
import { isSpawnError, type SpawnRequest, type SpawnResult } from '../src/spawn/types.js';
import { tempDir } from './helpers/daemon.js';
import { within } from './helpers/wait.js';

const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A request whose handler, if it ever runs, leaves a file behind. */
async function markerRequest(fd: number): Promise<{ req: SpawnRequest; marker: string }> {
  const dir = await tempDir('superd-fault-fd-');
  dirs.push(dir);
  const marker = join(dir, 'started');
  return { req: { program: '/bin/sh', argv: ['sh', '-c', `echo ran > ${marker}`], env: ['PATH=/usr/bin:/bin'], fd, stderr: 'null', credentials: null }, marker };
}

function start(spawner: { spawn: HandlerSpawner['spawn'] }, req: SpawnRequest): Promise<SpawnResult> {
  return within(new Promise((resolve) => spawner.spawn(req, resolve, () => undefined)), 5000, 'onStarted');
}

/** Refused, with `pattern` in its message, and nothing ran. */
async function assertRefused(result: SpawnResult, pattern: RegExp, marker: string): Promise<void> {
  assert.ok(isSpawnError(result), `expected spawn_failed, got pid ${'pid' in result ? result.pid : '?'}`);
  assert.equal(result.code, 'spawn_failed');
  assert.match(result.message, pattern);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(existsSync(marker), false, 'no process ran');
}

function realLibc(): Libc {
  const libc = loadLibc();
  if (libc instanceof Error) throw libc;
  return libc;
}

describe('HandlerSpawner: a connection fd that cannot be the handler\'s', () => {
  for (const usePosixSpawn of [true, false]) {
    const how = usePosixSpawn ? 'posix_spawn' : 'child_process';
    test(`${how}: fd -1 → spawn_failed, no process started`, async () => {
      const spawner = await HandlerSpawner.create({ usePosixSpawn, self });
      const { req, marker } = await markerRequest(-1);
      await assertRefused(await start(spawner, req), /cannot execute \/bin\/sh: the connection has no descriptor \(fd -1\); not started/, marker);
    });
  }

  test("fd 0, 1, 2 (superd's own) and a closed fd → spawn_failed", async () => {
    const spawner = await HandlerSpawner.create({ usePosixSpawn: true, self });
    for (const fd of [0, 1, 2]) {
      const { req, marker } = await markerRequest(fd);
      await assertRefused(await start(spawner, req), /one of superd's own standard descriptors/, marker);
    }
    const closed = openSync('/dev/null', 'r');
    closeSync(closed);
    const { req, marker } = await markerRequest(closed);
    // posix_spawn's dup2 of it fails in the child, and so does the spawn.
    await assertRefused(await start(spawner, req), /bad file descriptor \(EBADF\)/, marker);
  });
});

describe('PosixSpawner: every file action counts', () => {
  test('fd -1 straight to PosixSpawner (no HandlerSpawner in front): refused all the same', async () => {
    const spawner = PosixSpawner.create(realLibc(), { ownSession: false, resetScheduler: false });
    assert.ok(!(spawner instanceof Error));
    const { req, marker } = await markerRequest(-1);
    await assertRefused(await start(spawner, req), /no usable descriptor \(fd -1\)/, marker);
  });

  test('an fd glibc refuses (beyond the table): adddup2 returns EBADF → spawn_failed', async () => {
    const spawner = PosixSpawner.create(realLibc(), { ownSession: false, resetScheduler: false });
    assert.ok(!(spawner instanceof Error));
    const { req, marker } = await markerRequest(1 << 30);
    await assertRefused(await start(spawner, req), /posix_spawn_file_actions_adddup2\(1073741824, 0\) failed: bad file descriptor \(EBADF\)/, marker);
  });

  const actions: [string, keyof Libc, RegExp][] = [
    ['init', 'actionsInit', /posix_spawn_file_actions_init failed: not enough memory \(ENOMEM\)/],
    ['adddup2', 'actionsDup2', /adddup2\(\d+, 0\) failed: not enough memory/],
    ['addopen', 'actionsOpen', /addopen\(2, \/dev\/null\) failed/],
    ['addclosefrom_np', 'actionsCloseFrom', /addclosefrom_np\(3\) failed/],
    ['addchdir_np', 'actionsChdir', /addchdir_np\(\/\) failed/],
  ];
  for (const [name, key, pattern] of actions) {
    test(`${name} fails (ENOMEM) → spawn_failed naming it; posix_spawn never called; no descriptor left open`, async () => {
      const real = realLibc();
      let spawned = 0;
      const libc: Libc = {
        ...real,
        [key]: () => 12, // ENOMEM
        posixSpawnAsync: (...args: Parameters<Libc['posixSpawnAsync']>) => {
          spawned += 1;
          real.posixSpawnAsync(...args);
        },
      };
      const spawner = PosixSpawner.create(libc, { ownSession: false, resetScheduler: false });
      assert.ok(!(spawner instanceof Error));
      const fd = openSync('/dev/null', 'r+');
      try {
        const before = readdirSync('/proc/self/fd').length;
        for (const stderr of ['null', 'log'] as const) {
          const { req, marker } = await markerRequest(fd);
          const r = await start(spawner, { ...req, stderr });
          if (key === 'actionsOpen' && stderr === 'log') {
            assert.ok(!isSpawnError(r), 'stderr = log opens nothing');
            if (typeof r.stderr === 'number') closeSync(r.stderr);
            continue;
          }
          await assertRefused(r, pattern, marker);
        }
        assert.equal(readdirSync('/proc/self/fd').length, before, 'the stderr pipe was closed');
        assert.equal(spawned, key === 'actionsOpen' ? 1 : 0);
      } finally {
        closeSync(fd);
      }
    });
  }
});
