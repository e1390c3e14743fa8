// The thread that waits for readiness.ts (a worker thread of its own, not
// libuv's pool, which the spawns need): it blocks in epoll_wait on the set
// the event loop keeps and posts the tags of what became ready. Every watched
// descriptor is registered EPOLLONESHOT, so what it posted is disarmed until
// the event loop arms it again: the thread never needs an answer and never
// spins. It ends when the tag STOP_TAG (an eventfd the event loop writes to
// at exit) is ready: Node joins its worker threads at exit, and one blocked in
// epoll_wait would hold the process forever.
import { parentPort, workerData } from 'node:worker_threads';
import { openLibc } from '../koffi.js';
import { EPOLL_EVENT_DATA, EPOLL_EVENT_SIZE, STOP_TAG, STOPPED, type ThreadData, type ThreadReport } from './readiness-protocol.js';

const EINTR = 4;
const MAX_EVENTS = 64;

function run(port: NonNullable<typeof parentPort>, { epfd, stopped }: ThreadData): void {
  const flag = new Int32Array(stopped);
  // Said from plain JavaScript, after the native call has returned.
  const sayStopped = (): void => {
    Atomics.store(flag, 0, STOPPED);
    Atomics.notify(flag, 0);
  };
  const libc = openLibc();
  const wait = libc.func('int epoll_wait(int epfd, void *events, int max, int timeout)');
  const events = Buffer.alloc(MAX_EVENTS * EPOLL_EVENT_SIZE);
  for (;;) {
    const n = wait(epfd, events, MAX_EVENTS, -1) as number;
    if (n < 0) {
      const errno = libc.errno();
      if (errno === EINTR) continue;
      // EBADF or EINVAL: the set is gone; say so rather than spin.
      sayStopped();
      port.postMessage({ error: errno } satisfies ThreadReport);
      return;
    }
    const tags: number[] = [];
    for (let i = 0; i < n; i++) {
      const tag = events.readUInt32LE(i * EPOLL_EVENT_SIZE + EPOLL_EVENT_DATA);
      if (tag === STOP_TAG) return sayStopped();
      tags.push(tag);
    }
    if (tags.length > 0) port.postMessage({ tags } satisfies ThreadReport);
  }
}

if (parentPort !== null) run(parentPort, workerData as ThreadData);
