// libuv's pool threads, which start the handlers, yield to the event loop.
//
// For each handler the event loop wakes a pool thread (uv_queue_work signals
// a condition variable while it holds the pool's mutex). A woken SCHED_OTHER
// thread preempts the waker when the scheduler puts it on the same CPU: the
// event loop stops mid-call, the pool thread runs straight into the mutex the
// loop still holds and sleeps again, and the loop resumes only to wake it a
// second time. A SCHED_BATCH thread never preempts on wakeup: its turn comes
// when the CPU is free or at the next tick. Measured on the benchmark
// machine: 9-11 % less daemon CPU per connection (bench/README.md).
//
// Only the pool: V8's threads (garbage collection, compilation) stay as they
// are, since the event loop waits for their share of a collection, and a
// thread that may not preempt could keep it waiting. Handlers inherit the
// policy of the thread that starts them, so posix_spawn puts them back to
// SCHED_OTHER (POSIX_SPAWN_SETSCHEDULER) before their exec. A daemon that runs
// another policy (chrt, systemd's CPUSchedulingPolicy=) is left as it is: the
// operator's choice is everyone's.
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { O_CLOEXEC, SCHED_BATCH, SCHED_OTHER } from '../sys/constants.js';
import type { Sys } from '../sys/load.js';

/** struct sched_param: a priority, 0 for the non-realtime policies. */
export const NO_PRIORITY = Buffer.alloc(4);

/** read(2)'s number, as /proc/TID/syscall shows it, where superd knows it. */
const SYS_READ: Partial<Record<string, number>> = { x64: 0, arm64: 63 };

/** How long the pool's threads are looked for (superd's start waits that long at most): a busy pool may take its time to reach our calls. */
const FIND_MS = 2000;
const LOOK_EVERY_MS = 2;

/** The pool's size as libuv reads it when it starts the pool: UV_THREADPOOL_SIZE, 1..1024, default 4. */
export function poolSize(value: string | undefined = process.env.UV_THREADPOOL_SIZE): number {
  if (value === undefined) return 4;
  const n = Number.parseInt(value, 10);
  if (!Number.isFinite(n) || n <= 0) return 1;
  return Math.min(n, 1024);
}

/** Whether a /proc/TID/syscall line (`NR ARG0 ...`, arguments in hex) shows a thread blocked in read(fd). */
export function blockedInRead(line: string, sysRead: number, fd: number): boolean {
  const [nr, arg0] = line.trim().split(' ');
  return nr !== undefined && arg0 !== undefined && Number(nr) === sysRead && Number(arg0) === fd;
}

/**
 * The tids of libuv's pool threads. Each is given a read(2) on an empty pipe
 * of ours, which holds it (so no thread takes two), and is found in /proc by
 * that call; then the pipe's write end is closed, every read returns, and
 * the read end is closed too. Empty where /proc or the pipe is not to be had.
 */
export async function findPoolThreads(libc: Sys, size: number): Promise<number[]> {
  const sysRead = SYS_READ[process.arch];
  const fds = new Int32Array(2);
  if (sysRead === undefined || libc.pipe2(fds, O_CLOEXEC) !== 0) return [];
  const [r = -1, w = -1] = fds;
  const bytes = Buffer.alloc(size);
  // The callbacks run on the event loop, so not before every read is queued.
  let pending = 0;
  const returned = (): void => {
    pending -= 1;
    if (pending === 0) libc.close(r);
  };
  try {
    for (; pending < size; pending++) libc.readAsync(r, bytes.subarray(pending, pending + 1), 1, returned);
  } catch {
    // koffi refused a call (its queue is full): look for those queued.
  }
  if (pending === 0) {
    libc.close(r);
    libc.close(w);
    return [];
  }
  const queued = pending;
  let found: number[] = [];
  try {
    for (const deadline = performance.now() + FIND_MS; found.length < queued && performance.now() < deadline; await sleep(LOOK_EVERY_MS)) {
      const blocked = threadsBlockedIn(sysRead, r);
      if (blocked === null) break;
      found = blocked;
    }
  } finally {
    // With no writer left every read returns (end of file), the ones still
    // queued behind a busy pool too: nothing can keep the pool held.
    libc.close(w);
  }
  return found;
}

/**
 * The threads blocked in read(fd); null when /proc cannot tell (no /proc, or
 * a kernel without /proc/TID/syscall). Read synchronously: the pool is what is
 * held, so fs.promises would wait behind our own reads. /proc answers from
 * memory, and this runs at start only.
 */
function threadsBlockedIn(sysRead: number, fd: number): number[] | null {
  const found: number[] = [];
  let readable = false;
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      let line = '';
      try {
        line = readFileSync(`/proc/self/task/${tid}/syscall`, 'utf8');
        readable = true;
      } catch {
        // The thread ended while we looked, or the kernel does not say.
      }
      if (blockedInRead(line, sysRead, fd)) found.push(Number(tid));
    }
  } catch {
    return null;
  }
  return readable ? found : null;
}

/**
 * Makes libuv's pool threads SCHED_BATCH when superd runs SCHED_OTHER. True
 * when handlers must be put back to SCHED_OTHER (a pool thread was changed).
 */
export async function batchPoolThreads(libc: Sys, find: () => Promise<number[]> = () => findPoolThreads(libc, poolSize())): Promise<boolean> {
  if (libc.schedGetScheduler(0) !== SCHED_OTHER) return false;
  let changed = false;
  for (const tid of await find()) {
    if (tid !== process.pid && libc.schedSetScheduler(tid, SCHED_BATCH, NO_PRIORITY) === 0) changed = true;
  }
  return changed;
}
