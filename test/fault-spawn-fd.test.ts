// Issue 14: a handler must never get superd's own fd 0 and 1. The connection's
// descriptor comes from a Node internal that reports -1 for a closed handle,
// and glibc refuses a posix_spawn file action (EBADF for fd -1) by not adding
// it: the child then keeps superd's stdin and stdout. So the fd is checked,
// and so is every file action's return code; either refuses the spawn.
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadSys, type Sys } from '../src/sys/load.js';
import { PosixSpawner } from '../src/spawn/posix.js';
import { HandlerSpawner } from '../src/spawn/spawner.js';
import { isSpawnError, type SpawnRequest, type SpawnResult } from '../src/spawn/types.js';
import { scratchDirs } from './helpers/daemon.js';
import { processesWithEnvironment } from './helpers/proc.js';
import { within } from './helpers/wait.js';

const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
const scratch = scratchDirs('superd-fault-fd-');

interface Marked {
  req: SpawnRequest;
  /** The file its handler would write. */
  marker: string;
  /** The environment entry (NAME=value) its handler, and only it, would carry. */
  entry: string;
}

/**
 * A request whose handler, if it ever runs, leaves a file behind and stays
 * (a minute), with an environment entry of its own: a process started for it
 * can be found in /proc as soon as the spawn returns (posix_spawn and libuv
 * both return after the exec).
 */
async function markerRequest(fd: number): Promise<Marked> {
  const dir = await scratch();
  const marker = join(dir, 'started');
  const entry = `SUPERD_TEST_MARK=${dir}`;
  return { req: { program: '/bin/sh', argv: ['sh', '-c', `echo ran > ${marker}; exec sleep 60`], env: ['PATH=/usr/bin:/bin', entry], fd, stderr: 'null', credentials: null }, marker, entry };
}

function start(spawner: { spawn: HandlerSpawner['spawn'] }, req: SpawnRequest): Promise<SpawnResult> {
  return within(new Promise((resolve) => spawner.spawn(req, resolve, () => undefined)), 15000, 'onStarted');
}

/**
 * A spawn the same spawner must carry out: a request refused before it that
 * still started something late would have started it by the time this one
 * has (posix_spawn and libuv report a start once the child has exec'd).
 */
async function followUp(spawner: { spawn: HandlerSpawner['spawn'] }): Promise<void> {
  const fd = openSync('/dev/null', 'r+');
  try {
    const result = await start(spawner, { program: '/bin/true', argv: ['true'], env: ['PATH=/usr/bin:/bin'], fd, stderr: 'null', credentials: null });
    assert.ok(!isSpawnError(result), `the follow-up spawn failed: ${isSpawnError(result) ? result.message : ''}`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Refused, with `pattern` in its message, and nothing ran: no process carries
 * the request's environment entry, and its file is not there; after
 * `orderedAfter` (a later spawn carried out) as well, when given.
 */
async function assertRefused(result: SpawnResult, pattern: RegExp, { marker, entry }: Marked, orderedAfter?: () => Promise<void>): Promise<void> {
  assert.ok(isSpawnError(result), `expected spawn_failed, got pid ${'pid' in result ? result.pid : '?'}`);
  assert.equal(result.code, 'spawn_failed');
  assert.match(result.message, pattern);
  const nothingRan = async (when: string): Promise<void> => {
    const ran = await processesWithEnvironment(entry);
    for (const pid of ran) process.kill(pid, 'SIGKILL');
    assert.deepEqual(ran, [], `no process was started for the refused request (${when})`);
    assert.equal(existsSync(marker), false, `no process ran (${when})`);
  };
  await nothingRan('when the refusal came');
  if (orderedAfter === undefined) return;
  await orderedAfter();
  await nothingRan('after a later spawn');
}

function realSys(): Sys {
  const sys = loadSys();
  if (sys instanceof Error) throw sys;
  return sys;
}

describe('HandlerSpawner: a connection fd that cannot be the handler\'s', () => {
  for (const usePosixSpawn of [true, false]) {
    const how = usePosixSpawn ? 'posix_spawn' : 'child_process';
    test(`${how}: fd -1 → spawn_failed, no process started`, async () => {
      const spawner = await HandlerSpawner.create({ usePosixSpawn, self });
      const marked = await markerRequest(-1);
      await assertRefused(await start(spawner, marked.req), /cannot execute \/bin\/sh: the connection has no descriptor \(fd -1\); not started/, marked, () => followUp(spawner));
    });
  }

  test("fd 0, 1, 2 (superd's own) and a closed fd → spawn_failed", async () => {
    const spawner = await HandlerSpawner.create({ usePosixSpawn: true, self });
    for (const fd of [0, 1, 2]) {
      const marked = await markerRequest(fd);
      await assertRefused(await start(spawner, marked.req), /one of superd's own standard descriptors/, marked, () => followUp(spawner));
    }
    const closed = openSync('/dev/null', 'r');
    closeSync(closed);
    const marked = await markerRequest(closed);
    // posix_spawn's dup2 of it fails in the child, and so does the spawn.
    await assertRefused(await start(spawner, marked.req), /bad file descriptor \(EBADF\)/, marked, () => followUp(spawner));
  });
});

describe('PosixSpawner: every file action counts', () => {
  test('fd -1 straight to PosixSpawner (no HandlerSpawner in front): refused all the same', async () => {
    const spawner = PosixSpawner.create(realSys(), { ownSession: false, resetScheduler: false });
    assert.ok(!(spawner instanceof Error));
    const marked = await markerRequest(-1);
    await assertRefused(await start(spawner, marked.req), /no usable descriptor \(fd -1\)/, marked, () => followUp(spawner));
  });

  test('an fd glibc refuses (beyond the table): adddup2 returns EBADF → spawn_failed', async () => {
    const spawner = PosixSpawner.create(realSys(), { ownSession: false, resetScheduler: false });
    assert.ok(!(spawner instanceof Error));
    const marked = await markerRequest(1 << 30);
    await assertRefused(await start(spawner, marked.req), /posix_spawn_file_actions_adddup2\(1073741824, 0\) failed: bad file descriptor \(EBADF\)/, marked, () => followUp(spawner));
  });

  const actions: [string, keyof Sys, RegExp][] = [
    ['init', 'actionsInit', /posix_spawn_file_actions_init failed: not enough memory \(ENOMEM\)/],
    ['adddup2', 'actionsDup2', /adddup2\(\d+, 0\) failed: not enough memory/],
    ['addopen', 'actionsOpen', /addopen\(2, \/dev\/null\) failed/],
    ['addclosefrom_np', 'actionsCloseFrom', /addclosefrom_np\(3\) failed/],
    ['addchdir_np', 'actionsChdir', /addchdir_np\(\/\) failed/],
  ];
  for (const [name, key, pattern] of actions) {
    test(`${name} fails (ENOMEM) → spawn_failed naming it; posix_spawn never called; no descriptor left open`, async () => {
      const real = realSys();
      let spawned = 0;
      const sys: Sys = {
        ...real,
        [key]: () => 12, // ENOMEM
        posixSpawnAsync: (...args: Parameters<Sys['posixSpawnAsync']>) => {
          spawned += 1;
          real.posixSpawnAsync(...args);
        },
      };
      const spawner = PosixSpawner.create(sys, { ownSession: false, resetScheduler: false });
      assert.ok(!(spawner instanceof Error));
      const fd = openSync('/dev/null', 'r+');
      try {
        const before = readdirSync('/proc/self/fd').length;
        for (const stderr of ['null', 'log'] as const) {
          const marked = await markerRequest(fd);
          const r = await start(spawner, { ...marked.req, stderr });
          if (key === 'actionsOpen' && stderr === 'log') {
            assert.ok(!isSpawnError(r), 'stderr = log opens nothing');
            if (typeof r.stderr === 'number') closeSync(r.stderr);
            // It ran (and would sleep a minute): not left behind.
            process.kill(r.pid, 'SIGKILL');
            continue;
          }
          // Every spawn of this libc fails the same way: no later one to order by; posixSpawnAsync's count below says it was never called.
          await assertRefused(r, pattern, marked);
        }
        assert.equal(readdirSync('/proc/self/fd').length, before, 'the stderr pipe was closed');
        assert.equal(spawned, key === 'actionsOpen' ? 1 : 0);
      } finally {
        closeSync(fd);
      }
    });
  }
});
