// Every thread of superd but the event loop runs SCHED_BATCH from its start,
// libuv's pool threads among them, so that one the event loop wakes to start
// a handler does not preempt it; the handler, started on a pool thread, is
// put back to SCHED_OTHER (src/spawn/sched.ts). The event loop, and threads
// it makes later (the readiness thread), keep superd's policy. A policy or
// nice value the operator gave superd (chrt, nice, a unit's
// CPUSchedulingPolicy= or Nice=) is left as it is and reaches every handler.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { exchange } from './helpers/clients.js';
import { startServices, type StartOptions } from './helpers/daemon.js';
import { parseProcStat, procStat, runProgram, type ProcStat } from './helpers/proc.js';

const SCHED_OTHER = 0;
const SCHED_BATCH = 3;
const CHRT = ['/usr/bin/chrt', '/bin/chrt'].find((p) => existsSync(p));
const NICE = ['/usr/bin/nice', '/bin/nice'].find((p) => existsSync(p));
/** Where the kernel refuses it (a container's seccomp profile), superd leaves every thread as it is. */
const BATCH_REFUSED = CHRT !== undefined && spawnSync(CHRT, ['--batch', '0', '/bin/true']).status !== 0 ? 'this host refuses SCHED_BATCH (chrt --batch 0 fails)' : false;
/** The names Node 22 and later give libuv's pool threads and V8's (Node 20 names every thread `node`). */
const POOL_THREAD = 'libuv-worker';
const V8_THREADS = ['V8Worker', 'DelayedTaskSche'];

/** How many threads besides its event loop a node (this binary, this environment) has once its pool exists. */
async function helperThreadsOfNode(env: NodeJS.ProcessEnv): Promise<number> {
  const script = "require('node:fs/promises').stat('/').then(() => process.stdout.write(String(require('node:fs').readdirSync('/proc/self/task').length)))";
  const r = await runProgram(process.execPath, ['-e', script], { env, timeoutMs: 20000 });
  const n = Number(r.stdout);
  assert.ok(Number.isInteger(n) && n > 1, `the set-up: node counts its threads: ${JSON.stringify(r)}`);
  return n - 1;
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
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(pool === 4 ? {} : { UV_THREADPOOL_SIZE: String(pool) }) };
    const name = `${pool === 4 ? 'by default' : `UV_THREADPOOL_SIZE=${pool}`}: every thread but the event loop there at start, the ${pool} pool threads among them, runs SCHED_BATCH; the event loop, later threads and every handler SCHED_OTHER`;
    test(name, { skip: BATCH_REFUSED }, async () => {
      const atStart = await helperThreadsOfNode(env);
      const { loop, others, handler } = await handlerUnder({ env });
      assert.equal(loop.policy, SCHED_OTHER, 'the event loop thread');
      const batch = others.filter((t) => t.policy === SCHED_BATCH);
      const left = others.filter((t) => t.policy !== SCHED_BATCH);
      // Were the pool, or V8's threads, left out, fewer would be SCHED_BATCH.
      assert.ok(batch.length >= atStart, `${batch.length} threads SCHED_BATCH, fewer than the ${atStart} besides the event loop that node has once its pool exists`);
      assert.deepEqual(left.map((t) => t.policy).filter((p) => p !== SCHED_OTHER), [], 'no other policy');
      const newestBatch = Math.max(...batch.map((t) => t.startTime));
      assert.deepEqual(left.filter((t) => t.startTime < newestBatch).map((t) => t.pid), [], 'the threads left SCHED_OTHER were made after the others were changed');
      if (others.some((t) => t.comm === POOL_THREAD)) {
        assert.equal(others.filter((t) => t.comm === POOL_THREAD).length, pool, "libuv's pool threads, by name");
        const named = others.filter((t) => t.comm === POOL_THREAD || V8_THREADS.includes(t.comm));
        assert.deepEqual(named.filter((t) => t.policy !== SCHED_BATCH).map((t) => t.comm), [], "libuv's and V8's threads, by name: all SCHED_BATCH");
      }
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
