// Every thread of superd but the event loop yields to it: libuv's pool
// threads, which start the handlers, and V8's.
//
// For each handler the event loop wakes a pool thread (uv_queue_work signals
// a condition variable while it holds the pool's mutex). A woken SCHED_OTHER
// thread preempts the waker when the scheduler puts it on the same CPU: the
// event loop stops mid-call, the pool thread runs straight into the mutex the
// loop still holds and sleeps again, and the loop resumes only to wake it a
// second time. A SCHED_BATCH thread never preempts on wakeup: its turn comes
// when the CPU is free or at the next tick. The gain, and that it is the same
// whether only the pool or every thread but the event loop is changed, are in
// bench/README.md ("the pool threads yield", and the entry after it).
//
// Every thread, not only the pool's: finding which threads are the pool's
// needs names that Node 20 does not give them, or holding each in a call of
// ours long enough to see it in /proc. V8's threads lose nothing that
// matters: SCHED_BATCH changes neither their weight nor their share of the
// CPU, only that a wakeup does not preempt the thread running. A garbage
// collection the event loop waits for still gets its helpers: the loop
// sleeps while it waits, and the CPU it frees is theirs at once; the loop
// does a parallel phase's work itself where no helper has started.
//
// The threads are listed once the pool exists. libuv makes all its pool
// threads together when the first work is queued, and the listing is such
// work (fs.promises), done on a pool thread, so it sees them all. Threads
// made later by the event loop (the readiness thread, listen/readiness.ts)
// inherit its policy, SCHED_OTHER, which is what they had anyway.
//
// Handlers inherit the policy of the thread that starts them, so posix_spawn
// puts them back to SCHED_OTHER (POSIX_SPAWN_SETSCHEDULER) before their exec.
// A daemon that runs another policy (chrt, systemd's CPUSchedulingPolicy=) is
// left as it is: the operator's choice is everyone's. A host that refuses
// SCHED_BATCH (a seccomp profile) or has no /proc keeps every thread as it is.
import { readdir } from 'node:fs/promises';
import { SCHED_BATCH, SCHED_OTHER } from '../sys/constants.js';
import type { Sys } from '../sys/load.js';

/** struct sched_param: a priority, 0 for the non-realtime policies. */
export const NO_PRIORITY = Buffer.alloc(4);

/**
 * The tids of this process's threads, libuv's pool threads among them (see
 * above); empty without /proc. The event loop is the one whose tid is the pid.
 */
export async function threadsOfSelf(): Promise<number[]> {
  try {
    return (await readdir('/proc/self/task')).map(Number);
  } catch {
    return [];
  }
}

/**
 * Makes every SCHED_OTHER thread but the event loop SCHED_BATCH, when superd
 * itself runs SCHED_OTHER. True when handlers must be put back to
 * SCHED_OTHER (a thread was changed).
 */
export async function batchHelperThreads(libc: Sys, threads: () => Promise<number[]> = threadsOfSelf): Promise<boolean> {
  if (libc.schedGetScheduler(0) !== SCHED_OTHER) return false;
  let changed = false;
  for (const tid of await threads()) {
    // A thread that ended meanwhile answers -1 (ESRCH): skipped.
    if (tid === process.pid || libc.schedGetScheduler(tid) !== SCHED_OTHER) continue;
    if (libc.schedSetScheduler(tid, SCHED_BATCH, NO_PRIORITY) === 0) changed = true;
  }
  return changed;
}
