// The thread that waits for readiness.ts (a worker thread of its own, not
// libuv's pool, which the spawns need): it blocks in epoll_wait on the set
// the event loop keeps and posts the tags of what became ready. Every watched
// descriptor is registered EPOLLONESHOT, so what it posted is disarmed until
// the event loop arms it again: the thread never needs an answer and never
// spins. It ends when the tag STOP_TAG (an eventfd of its own, which the event
// loop writes to once nothing has been watched for a while, and at exit) is
// ready: Node joins its worker threads at exit, and one blocked in epoll_wait
// would hold the process forever.
import { parentPort, workerData } from 'node:worker_threads';
import { EINTR } from '../sys/constants.js';
import { SysError } from '../sys/errors.js';
import { loadSys } from '../sys/load.js';
import { STOP_TAG, STOPPED, type ThreadData, type ThreadReport } from './readiness-protocol.js';

function run(port: NonNullable<typeof parentPort>, { epfd, stopped }: ThreadData): void {
  const flag = new Int32Array(stopped);
  // Said from plain JavaScript, after the native call has returned.
  const sayStopped = (): void => {
    Atomics.store(flag, 0, STOPPED);
    Atomics.notify(flag, 0);
  };
  // The event loop has loaded it, so this thread can too; if not, the thread's error ends it, and it is started again.
  const sys = loadSys();
  if (sys instanceof SysError) throw sys;
  for (;;) {
    const ready = sys.epollWait(epfd, -1);
    if (ready === null) {
      const errno = sys.errno();
      if (errno === EINTR) continue;
      // EBADF or EINVAL: the set is gone; say so rather than spin.
      sayStopped();
      port.postMessage({ error: errno } satisfies ThreadReport);
      return;
    }
    // Everything reported is posted, the wake-up to stop included: each
    // registration is EPOLLONESHOT, so a tag dropped here would never come again.
    const tags: number[] = [];
    let stop = false;
    for (const { tag } of ready) {
      if (tag === STOP_TAG) stop = true;
      else tags.push(tag);
    }
    if (tags.length > 0) port.postMessage({ tags } satisfies ThreadReport);
    if (stop) return sayStopped();
  }
}

if (parentPort !== null) run(parentPort, workerData as ThreadData);
