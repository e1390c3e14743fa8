// superd's helper threads yield to its event loop.
//
// Each handler is started on a libuv pool thread, which the event loop wakes
// (uv_queue_work signals a condition variable while it holds the pool's
// mutex). A woken SCHED_OTHER thread preempts the waker when the scheduler
// puts it on the same CPU: the event loop stops mid-call, the pool thread runs
// straight into the mutex the loop still holds and sleeps again, and the loop
// resumes only to wake it a second time. A SCHED_BATCH thread never preempts
// on wakeup (its turn comes at the next tick or when the CPU is free), so the
// hand-off costs no switch. Measured on the benchmark machine: 9 % less
// daemon CPU per connection (bench/README.md).
//
// Children inherit the policy of the thread that starts them, so handlers are
// put back to SCHED_OTHER by posix_spawn (POSIX_SPAWN_SETSCHEDULER) before
// their exec. Only a daemon that runs SCHED_OTHER is changed: a policy the
// operator chose (chrt, systemd's CPUSchedulingPolicy=) is everyone's as it is.
import { readdirSync } from 'node:fs';
import type { Libc } from './libc.js';

export const SCHED_OTHER = 0;
export const SCHED_BATCH = 3;

/** struct sched_param: a priority, 0 for the non-realtime policies. */
export const NO_PRIORITY = Buffer.alloc(4);

/**
 * Makes every thread of superd but the event loop's SCHED_BATCH: the libuv
 * pool, and V8's compiler and GC helpers, whose work can wait for the loop
 * too. True when handlers must be put back to SCHED_OTHER (the pool was
 * changed, or may be by the time they start).
 */
export function batchHelperThreads(libc: Libc, threads: () => string[] = ownThreads): boolean {
  if (libc.schedGetScheduler(0) !== SCHED_OTHER) return false;
  const loop = String(process.pid);
  let changed = false;
  for (const tid of threads()) {
    if (tid === loop) continue;
    if (libc.schedSetScheduler(Number(tid), SCHED_BATCH, NO_PRIORITY) === 0) changed = true;
  }
  return changed;
}

function ownThreads(): string[] {
  try {
    return readdirSync('/proc/self/task');
  } catch {
    return [];
  }
}
