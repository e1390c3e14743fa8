// libuv's pool threads run SCHED_BATCH, so that one the event loop wakes to
// start a handler does not preempt it; the handler, started on that thread, is
// put back to SCHED_OTHER (src/spawn/sched.ts). The event loop and V8's
// threads keep superd's policy. A policy or nice value the operator gave
// superd (chrt, nice, a unit's CPUSchedulingPolicy= or Nice=) is left as it
// is and reaches every handler.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { exchange } from './helpers/clients.js';
import { startServices, type StartOptions } from './helpers/daemon.js';
import { parseProcStat, procStat, type ProcStat } from './helpers/proc.js';

const SCHED_OTHER = 0;
const SCHED_BATCH = 3;
const CHRT = ['/usr/bin/chrt', '/bin/chrt'].find((p) => existsSync(p));
const NICE = ['/usr/bin/nice', '/bin/nice'].find((p) => existsSync(p));
/**
 * Where superd cannot do it, it leaves every thread as it is: a container's
 * seccomp profile may refuse sched_setscheduler, and superd finds the pool's
 * threads through /proc/TID/syscall, which some kernels and sandboxes lack.
 */
const BATCH_REFUSED =
  CHRT !== undefined && spawnSync(CHRT, ['--batch', '0', '/bin/true']).status !== 0
    ? 'this host refuses SCHED_BATCH (chrt --batch 0 fails)'
    : !readable('/proc/self/syscall')
      ? 'no /proc/PID/syscall on this host: superd cannot find the pool threads'
      : false;

function readable(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
}

/** superd's event loop thread and its other threads, from /proc/PID/task. */
async function threads(pid: number): Promise<{ loop: ProcStat; others: ProcStat[] }> {
  const all: ProcStat[] = [];
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    try {
      all.push(await procStat(Number(tid)));
    } catch {
      // A thread that ended while we looked.
    }
  }
  const loop = all.find((t) => t.pid === pid);
  assert.ok(loop !== undefined, 'the event loop thread is in /proc/PID/task');
  return { loop, others: all.filter((t) => t.pid !== pid) };
}

/** superd with one service whose handler prints its own /proc/self/stat; the handler's stat. */
async function handlerUnder(opts: StartOptions): Promise<{ loop: ProcStat; others: ProcStat[]; handler: ProcStat }> {
  const { d, port } = await startServices({ stat: { bind: '127.0.0.1', server: '/bin/cat', args: '/proc/self/stat' } }, opts);
  try {
    const { data, how } = await exchange(port.stat ?? 0, '');
    assert.equal(how, 'end');
    const handler = parseProcStat(data.toString('utf8'));
    assert.equal(handler.ppid, d.pid, 'the set-up: superd started this handler');
    return { ...(await threads(d.pid)), handler };
  } finally {
    await d.stop();
  }
}

describe('serve: scheduling of superd and its handlers', () => {
  for (const pool of [4, 2]) {
    const env = pool === 4 ? undefined : { PATH: process.env.PATH ?? '/usr/bin:/bin', UV_THREADPOOL_SIZE: String(pool) };
    test(`${env === undefined ? 'by default' : `UV_THREADPOOL_SIZE=${pool}`}: the ${pool} pool threads run SCHED_BATCH; the event loop, V8's threads and every handler SCHED_OTHER`, { skip: BATCH_REFUSED }, async () => {
      const { loop, others, handler } = await handlerUnder(env === undefined ? {} : { env });
      assert.equal(loop.policy, SCHED_OTHER, 'the event loop thread');
      assert.equal(others.filter((t) => t.policy === SCHED_BATCH).length, pool, 'as many SCHED_BATCH threads as libuv has pool threads');
      assert.ok(others.filter((t) => t.policy === SCHED_OTHER).length > 0, "V8's threads stay SCHED_OTHER");
      assert.ok(others.every((t) => t.policy === SCHED_OTHER || t.policy === SCHED_BATCH));
      assert.equal(handler.policy, SCHED_OTHER, 'the handler, though started on a SCHED_BATCH thread');
      assert.equal(handler.nice, loop.nice);
    });
  }

  test('superd under nice -n 5: its handlers keep nice 5, and run SCHED_OTHER', { skip: NICE === undefined ? 'no nice(1) on this host' : false }, async () => {
    const { loop, handler } = await handlerUnder({ launcher: [NICE ?? 'nice', '-n', '5'] });
    assert.equal(loop.nice, 5, 'the set-up: superd runs at nice 5');
    assert.equal(handler.nice, 5, "superd's nice value reaches the handler");
    assert.equal(handler.policy, SCHED_OTHER);
  });

  test('superd started SCHED_BATCH by the operator (chrt --batch): left as it is, and so are its handlers', { skip: CHRT === undefined ? 'no chrt(1) (util-linux) on this host' : BATCH_REFUSED }, async () => {
    const { loop, others, handler } = await handlerUnder({ launcher: [CHRT ?? 'chrt', '--batch', '0'] });
    assert.equal(loop.policy, SCHED_BATCH, 'the set-up: superd runs SCHED_BATCH');
    assert.ok(others.every((t) => t.policy === SCHED_BATCH));
    assert.equal(handler.policy, SCHED_BATCH, "the operator's policy reaches the handler");
  });
});
