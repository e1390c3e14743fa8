// The reaper and the children it did not start, with the real libc in this
// test process: a child of child_process (libuv reaps it by pid, and never
// sees its exit when someone else reaped it first) exits beside a handler
// started by posix_spawn, and each exit reaches its own listener. Then, with
// a libc a test decides, what it does when a stranger stays first in the walk.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Reaper } from '../src/reap/reaper.js';
import { P_ALL, WNOWAIT } from '../src/sys/constants.js';
import { loadSys, type Sys } from '../src/sys/load.js';
import type { ExitStatus } from '../src/spawn/types.js';
import { within } from './helpers/wait.js';

/** Its /proc state letter, or null once it is gone (reaped). */
function state(pid: number): string | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

/**
 * Waits for each pid to be a zombie WITHOUT letting the event loop run, so
 * that neither libuv nor the reaper's SIGCHLD listener can reap it meanwhile.
 */
function blockUntilZombies(pids: number[], ms: number): void {
  const deadline = Date.now() + ms;
  while (!pids.every((p) => state(p) === 'Z')) {
    if (Date.now() > deadline) assert.fail(`not all exited within ${ms} ms: ${pids.map((p) => `${p}=${state(p)}`).join(' ')}`);
  }
}

/** posix_spawn of `sh -c 'exit CODE'` on the pool thread, as the posix spawner does: its pid. */
function posixSpawn(sys: Sys, code: number): Promise<number> {
  const pid = new Int32Array(1);
  return new Promise((resolve, reject) => {
    sys.posixSpawnAsync(pid, '/bin/sh', null as unknown as Buffer, null as unknown as Buffer, ['sh', '-c', `exit ${code}`, null], [null], (err, rc) => {
      if (err !== null && err !== undefined) reject(err instanceof Error ? err : new Error(String(err)));
      else if (rc !== 0) reject(new Error(`posix_spawn: errno ${rc}`));
      else resolve(pid[0] ?? 0);
    });
  });
}

test("the reaper reaps its own handler and leaves a child_process child to libuv, even when both are exited when it looks", { skip: process.platform !== 'linux' }, async (t) => {
  const sys = loadSys();
  if (sys instanceof Error) return t.skip(`no native layer: ${sys.message}`);
  // A spawn "in flight" until the test watches its pid, as the spawner counts them.
  let inFlight = 1;
  const reaper = new Reaper(sys, () => inFlight);
  const handler = await within(posixSpawn(sys, 7), 5000, 'posix_spawn');
  // From here to the reap() below the event loop does not run: libuv cannot reap the child_process child first.
  const lookup = spawn('/bin/sh', ['-c', 'exit 3'], { stdio: 'ignore' });
  const lookupPid = lookup.pid ?? assert.fail('child_process.spawn gave no pid');
  const lookupExit = new Promise<number | null>((resolve) => lookup.on('exit', (code) => resolve(code)));
  blockUntilZombies([handler, lookupPid], 5000);
  inFlight = 0;
  let handlerStatus: ExitStatus | null = null;
  const handlerExit = new Promise<ExitStatus>((resolve) => reaper.watch(handler, (status) => resolve((handlerStatus = status))));
  // What a SIGCHLD does: the handler is reaped, the stranger (libuv's child) is left alone.
  reaper.reap();
  assert.deepEqual(handlerStatus, { code: 7, signal: null }, 'the handler was reaped at once');
  assert.equal(state(lookupPid), 'Z', 'the child_process child is left for libuv to reap');
  assert.deepEqual(await within(handlerExit, 5000, "the handler's onExit"), { code: 7, signal: null });
  assert.equal(state(handler), null, 'the handler was reaped');
  assert.equal(await within(lookupExit, 5000, "the child_process child's 'exit' event"), 3);
});

test('and through SIGCHLD alone: both exits are seen, a child_process one at a time with handlers', { skip: process.platform !== 'linux' }, async (t) => {
  const sys = loadSys();
  if (sys instanceof Error) return t.skip(`no native layer: ${sys.message}`);
  let inFlight = 0;
  const reaper = new Reaper(sys, () => inFlight);
  for (let i = 0; i < 20; i++) {
    inFlight += 1;
    const lookup = spawn('/bin/sh', ['-c', `exit ${i % 5}`], { stdio: 'ignore' });
    const lookupExit = new Promise<number | null>((res) => lookup.on('exit', (code) => res(code)));
    const handler = await posixSpawn(sys, i % 7);
    inFlight -= 1;
    const handlerExit = new Promise<ExitStatus>((resolve) => reaper.watch(handler, resolve));
    assert.deepEqual(await within(handlerExit, 5000, `round ${i}: the handler's onExit`), { code: i % 7, signal: null });
    assert.equal(await within(lookupExit, 5000, `round ${i}: the child_process child's 'exit' event`), i % 5);
  }
});

/** A libc whose children a test makes and ends: waitid as the kernel answers it, oldest child first. */
function fakeLibc(): { libc: Pick<Sys, 'waitid' | 'sigInfo'>; children: Map<number, number | null>; reapedBy: number[] } {
  const children = new Map<number, number | null>(); // pid -> exit code once exited
  const reapedBy: number[] = [];
  let found = { pid: 0, code: 0 };
  const info = {
    buffer: Buffer.alloc(0),
    clear: () => void (found = { pid: 0, code: 0 }),
    get pid() {
      return found.pid;
    },
    exited: true,
    get status() {
      return found.code;
    },
  };
  const libc: Pick<Sys, 'waitid' | 'sigInfo'> = {
    sigInfo: () => info,
    waitid: (idType, id, _info, options) => {
      const candidates = idType === P_ALL ? [...children.keys()] : children.has(id) ? [id] : [];
      if (candidates.length === 0) return -1; // ECHILD
      const pid = candidates.find((p) => children.get(p) !== null);
      if (pid === undefined) return 0;
      found = { pid, code: children.get(pid) ?? 0 };
      if ((options & WNOWAIT) === 0) {
        children.delete(pid);
        reapedBy.push(idType);
      }
      return 0;
    },
  };
  return { libc, children, reapedBy };
}

test('an exited stranger first in the walk: never reaped; the exits behind it are found by pid', () => {
  const { libc, children } = fakeLibc();
  let inFlight = 0;
  const reaper = new Reaper(libc, () => inFlight);
  const exits: [number, number | null][] = [];
  children.set(100, 9); // a stranger, exited, never reaped by anyone here
  children.set(200, null);
  children.set(300, null);
  reaper.watch(200, (s) => exits.push([200, s.code]));
  reaper.watch(300, (s) => exits.push([300, s.code]));
  children.set(200, 0);
  reaper.reap();
  assert.deepEqual(exits, [[200, 0]], 'no spawn in flight: the own pids are asked at once');
  // A spawn in flight: the first time, the stranger is taken for it (its pid is not known yet).
  inFlight = 1;
  children.set(300, 1);
  reaper.reap();
  assert.deepEqual(exits, [[200, 0]]);
  // The same pid hides the exits again: no spawn of ours, a stranger.
  reaper.reap();
  assert.deepEqual(exits, [[200, 0], [300, 1]]);
  assert.equal(children.get(100), 9, 'the stranger is still there, unreaped');
});

test('a handler that exits before its spawn reports back is reaped at its watch()', () => {
  const { libc, children } = fakeLibc();
  let inFlight = 1;
  const reaper = new Reaper(libc, () => inFlight);
  children.set(400, 5);
  reaper.reap(); // its SIGCHLD, before the pid is known
  assert.equal(children.get(400), 5, 'left for the watch');
  inFlight = 0;
  const exits: number[] = [];
  reaper.watch(400, (s) => exits.push(s.code ?? -1));
  assert.deepEqual(exits, [5]);
  assert.equal(children.has(400), false);
});

test('a pid that hid the others once and comes back with a later spawn (pids are reused) is reaped at its watch()', () => {
  const { libc, children } = fakeLibc();
  let inFlight = 1;
  const reaper = new Reaper(libc, () => inFlight);
  const exits: [number, number | null][] = [];
  // A spawn exits before it reports back: the first time, taken for a spawn in flight, and reaped at its watch().
  children.set(500, 3);
  reaper.reap();
  inFlight = 0;
  reaper.watch(500, (s) => exits.push([500, s.code]));
  assert.deepEqual(exits, [[500, 3]]);
  // The pids wrap: a later spawn gets 500 again, and exits before it reports back, twice (its SIGCHLD, then another's).
  inFlight = 1;
  children.set(500, 4);
  reaper.reap();
  reaper.reap();
  assert.equal(children.get(500), 4, 'left for the watch');
  inFlight = 0;
  reaper.watch(500, (s) => exits.push([500, s.code]));
  assert.deepEqual(exits, [[500, 3], [500, 4]], 'reaped at its watch, not left a zombie until the sweep');
  assert.equal(children.has(500), false);
});
