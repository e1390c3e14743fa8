// Noticing that a descriptor is readable (a wait service's datagram or
// pending connection, a parked stderr pipe) without reading or accepting
// anything, and without signals.
//
// Signal-driven I/O (F_SETOWN + O_ASYNC) is not an option: the owner and the
// signal belong to the open file, which a wait service's handler shares, so a
// handler (or a child it leaves behind) could F_SETSIG any signal at superd —
// SIGSTOP, SIGKILL, SIGUSR1 (Node's debugger). superd is never the owner of a
// file a handler may hold (SPEC §5).
//
// Instead an epoll set, kept by the event loop, and a thread of its own
// (readiness-thread.ts) that blocks in epoll_wait and posts what became
// ready. Each descriptor is registered EPOLLONESHOT with a tag of its own:
// once reported it is disarmed and taken out of the set, so a handler that
// now holds it can make nothing happen here. An epoll registration is the
// open file's, not the descriptor's, so it is always deleted before superd's
// descriptor is closed or handed on (unwatch), and tags are never reused, so
// a report that crossed an unwatch is recognised as stale. The one exception
// is watchArrivals (a connection whose PROXY header superd reads): it stays
// registered, edge-triggered, until unwatched; superd alone holds such a
// connection until then.
//
// The thread runs only while something is watched, and for IDLE_STOP_MS
// after (or as long as keepFor asks): a Worker is a JavaScript engine of its
// own (about 10 MB, a few descriptors, some 100 ms to start), which a superd
// with no wait service, no parked pipe and no PROXY header to wait for has
// no use for. The first watch() starts it; IDLE_STOP_MS after the last unwatch
// it is stopped through an eventfd of its own in the set, and its memory and
// descriptors are the system's again. A wait service is watched again as
// soon as its handler has exited, so a busy one keeps the thread running.
// While it runs the thread sleeps in epoll_wait: no timer, no CPU.
import { Worker } from 'node:worker_threads';
import { EEXIST, EINTR, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLET, EPOLLIN, EPOLLONESHOT, POLLERR, POLLHUP, POLLIN, POLLNVAL } from '../sys/constants.js';
import { SysError, errnoError } from '../sys/errors.js';
import { loadSys, type Sys } from '../sys/load.js';
import { STOP_TAG, STOPPED, type ThreadData, type ThreadReport } from './readiness-protocol.js';

export interface Readiness {
  /**
   * Calls onReadable once, the next time fd has something to read (or an
   * error or hangup, which the handler will see); the fd is then no longer
   * watched until watch() again. What arrived before the call counts.
   * onReadable never runs inside watch(). Watching an fd already watched
   * replaces its callback.
   */
  watch(fd: number, onReadable: () => void): void;
  /**
   * Calls onArrival each time something new reaches fd (bytes, a hangup, an
   * error), until unwatch(fd); once soon after the call if something is
   * there already. For a socket whose first bytes superd reads itself
   * (proxy/read.ts): what has arrived but is not enough stays unread, so a
   * level-triggered watch would report it again at once and spin. This one
   * is edge-triggered (EPOLLET) and stays in the set: the kernel reports each
   * arrival (epoll(7): even edge-triggered, every chunk that comes wakes the
   * waiter), never what was reported before. onArrival never runs inside
   * watchArrivals().
   */
  watchArrivals(fd: number, onArrival: () => void): void;
  /** Stops watching fd: before handing it to a handler or closing it. Idempotent. */
  unwatch(fd: number): void;
  /**
   * Whether fd has something to read (or an error or hangup) right now: one
   * poll(0), neither reading nor accepting, whether or not fd is watched. A
   * closed fd (POLLNVAL) is not readable.
   */
  isReadable(fd: number): boolean;
  /**
   * Starts the thread now if it is not running, and keeps it at least ms
   * after this call even with nothing watched: for a caller that will soon
   * need a watch answered without delay. Starting the thread (a Worker)
   * takes about 100 ms, which a connection waiting for the rest of its PROXY
   * header would otherwise wait (proxy/read.ts).
   */
  keepFor(ms: number): void;
  /** Whether the thread runs (or is starting): for tests and status. */
  readonly threadRunning: boolean;
}

const READABLE = POLLIN | POLLERR | POLLHUP | POLLNVAL;
/** A thread that ended unasked is started again after this long. */
const RESTART_MS = 1000;
/** How long exit waits for the thread to leave epoll_wait once woken (it takes microseconds). */
const STOP_WAIT_MS = 1000;
/** How long the thread outlives the last watch: a wait service between two handlers keeps it. */
export const IDLE_STOP_MS = 1000;

interface Entry {
  readonly fd: number;
  readonly tag: number;
  readonly onReadable: () => void;
  /** watchArrivals: reported at each arrival until unwatched, not forgotten once reported. */
  readonly persistent: boolean;
}

/** The running thread and what ends it. */
interface Thread {
  readonly worker: Worker;
  /** An eventfd in the set under STOP_TAG: written, it ends the thread. */
  readonly stopFd: number;
  /** ThreadData.stopped: set once the thread is back from its last native call. */
  readonly stopped: SharedArrayBuffer;
  /** stop() has been asked: its exit is no crash to restart after. */
  stopping: boolean;
}

class EpollReadiness implements Readiness {
  private readonly byFd = new Map<number, Entry>();
  private readonly byTag = new Map<number, Entry>();
  private nextTag = STOP_TAG + 1;
  private thread: Thread | null = null;
  private exiting = false;
  private restart: NodeJS.Timeout | null = null;
  private idle: NodeJS.Timeout | null = null;
  /** keepFor(): the thread is not stopped for want of watches before this (performance.now()). */
  private warmUntil = 0;

  constructor(
    private readonly lib: Sys,
    private readonly epfd: number,
  ) {
    process.once('exit', () => {
      this.exiting = true;
      const { thread } = this;
      if (thread === null) return;
      this.lib.eventfdAdd(thread.stopFd, 1);
      // Node tears its workers down right after 'exit'; one still inside a
      // koffi call then aborts the process. Blocking here is what exit is for.
      // Online or still starting: once woken it reaches the flag either way.
      const flag = new Int32Array(thread.stopped);
      if (Atomics.load(flag, 0) !== STOPPED) Atomics.wait(flag, 0, 0, STOP_WAIT_MS);
    });
  }

  get threadRunning(): boolean {
    return this.thread !== null && !this.thread.stopping;
  }

  watch(fd: number, onReadable: () => void): void {
    this.add(fd, onReadable, false);
  }

  watchArrivals(fd: number, onArrival: () => void): void {
    this.add(fd, onArrival, true);
  }

  private add(fd: number, onReadable: () => void, persistent: boolean): void {
    if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`not a file descriptor: ${fd}`);
    this.unwatch(fd);
    const entry: Entry = { fd, tag: this.newTag(), onReadable, persistent };
    this.byFd.set(fd, entry);
    this.byTag.set(entry.tag, entry);
    if (this.idle !== null) clearTimeout(this.idle);
    this.idle = null;
    const events = persistent ? EPOLLIN | EPOLLET : EPOLLIN | EPOLLONESHOT;
    let added = this.ctl(EPOLL_CTL_ADD, fd, events, entry.tag);
    // Still in the set from a registration deleted by nobody (cannot happen
    // through this class, but the kernel is the judge): re-arm it.
    if (added < 0 && this.lib.errno() === EEXIST) added = this.ctl(EPOLL_CTL_MOD, fd, events, entry.tag);
    if (added < 0) {
      // A closed fd (EBADF) or one epoll cannot watch: reported once, as poll's POLLNVAL was; whoever watches it sees the error.
      setImmediate(() => this.fire([entry.tag]));
      return;
    }
    this.ensureThread();
  }

  keepFor(ms: number): void {
    const until = performance.now() + ms;
    if (until <= this.warmUntil + 1000) return; // kept already: one call a second at most does the rest
    this.warmUntil = until;
    this.ensureThread();
    if (this.byTag.size === 0) this.stopWhenIdle();
  }

  unwatch(fd: number): void {
    const entry = this.byFd.get(fd);
    if (entry === undefined) return;
    this.forget(entry);
  }

  isReadable(fd: number): boolean {
    let revents = -1;
    for (let tries = 0; tries < 100; tries++) {
      revents = this.lib.pollIn(fd);
      if (revents >= 0 || this.lib.errno() !== EINTR) break;
    }
    return revents > 0 && (revents & POLLNVAL) === 0 && (revents & READABLE) !== 0;
  }

  private newTag(): number {
    const tag = this.nextTag;
    // 32 bits of tags: after 4 billion watches, start again above STOP_TAG
    // (an entry that old has long been answered or forgotten).
    this.nextTag = tag >= 0xffffffff ? STOP_TAG + 1 : tag + 1;
    return tag;
  }

  private forget(entry: Entry): void {
    this.byFd.delete(entry.fd);
    this.byTag.delete(entry.tag);
    // Out of the set before the fd is closed or handed on: the registration
    // would outlive superd's descriptor as long as a handler holds the file.
    this.ctl(EPOLL_CTL_DEL, entry.fd, 0, 0);
    if (this.byTag.size === 0) this.stopWhenIdle();
  }

  /** Nothing is watched: the thread is stopped IDLE_STOP_MS from now, or once keepFor's time is up if later. */
  private stopWhenIdle(): void {
    if (this.idle !== null) clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stopIfIdle(), Math.max(IDLE_STOP_MS, this.warmUntil - performance.now()));
    this.idle.unref();
  }

  private ctl(op: number, fd: number, events: number, tag: number): number {
    return this.lib.epollCtl(this.epfd, op, fd, events, tag);
  }

  /** Nothing watched for IDLE_STOP_MS: the thread is woken to end; its 'exit' frees its eventfd. */
  private stopIfIdle(): void {
    this.idle = null;
    const { thread } = this;
    if (this.byTag.size > 0 || thread === null || thread.stopping) return;
    if (performance.now() < this.warmUntil) return this.stopWhenIdle();
    thread.stopping = true;
    this.lib.eventfdAdd(thread.stopFd, 1);
  }

  /** Runs the callbacks of the tags reported; stale tags (unwatched, watched anew) are skipped. Never throws. */
  private fire(tags: readonly number[]): void {
    const due: Entry[] = [];
    for (const tag of tags) {
      const entry = this.byTag.get(tag);
      if (entry === undefined) continue;
      if (!entry.persistent) this.forget(entry);
      due.push(entry);
    }
    for (const entry of due) {
      try {
        entry.onReadable();
      } catch (err) {
        // The caller's uncaught exception, but not before the other callbacks ran.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  private ensureThread(): void {
    if (this.thread !== null || this.restart !== null || this.exiting) return;
    const stopFd = this.lib.eventfd();
    if (stopFd < 0 || this.ctl(EPOLL_CTL_ADD, stopFd, EPOLLIN, STOP_TAG) < 0) {
      // Out of descriptors, most likely: tried again as after a crash.
      if (stopFd >= 0) this.lib.close(stopFd);
      this.restartLater();
      return;
    }
    const stopped = new SharedArrayBuffer(4);
    const data: ThreadData = { epfd: this.epfd, stopped };
    const worker = new Worker(new URL('./readiness-thread.js', import.meta.url), {
      workerData: data,
      // A few MB: the thread runs one loop and allocates an array per wake.
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8, stackSizeMb: 1 },
    });
    const thread: Thread = { worker, stopFd, stopped, stopping: false };
    worker.on('message', (report: ThreadReport) => {
      if ('tags' in report) this.fire(report.tags);
    });
    // An error ends the thread too: 'exit' follows, and it is started again.
    worker.on('error', () => undefined);
    worker.on('exit', () => this.ended(thread));
    // After the listeners: a 'message' listener refs the thread's port again.
    worker.unref();
    this.thread = thread;
  }

  /** A thread has ended, asked to or not: its eventfd goes; one is started again while something is watched. */
  private ended(thread: Thread): void {
    if (this.thread === thread) this.thread = null;
    if (this.exiting) return;
    this.ctl(EPOLL_CTL_DEL, thread.stopFd, 0, 0);
    this.lib.close(thread.stopFd);
    if (!this.wanted()) return;
    // Asked to stop while a watch came: at once. Ended unasked: after a pause, so a thread that cannot run does not spin.
    if (thread.stopping) this.ensureThread();
    else this.restartLater();
  }

  /** Something is watched, or keepFor's time is not up. */
  private wanted(): boolean {
    return this.byTag.size > 0 || performance.now() < this.warmUntil;
  }

  private restartLater(): void {
    if (this.restart !== null) return;
    this.restart = setTimeout(() => {
      this.restart = null;
      if (this.wanted()) this.ensureThread();
    }, RESTART_MS);
    this.restart.unref();
  }
}

let instance: Readiness | SysError | undefined;

/** The process's one Readiness, or why native calls cannot be made here. Main thread only. */
export function readiness(): Readiness | SysError {
  if (instance !== undefined) return instance;
  const lib = loadSys();
  if (lib instanceof SysError) return (instance = lib);
  const epfd = lib.epollCreate();
  instance = epfd < 0 ? errnoError(lib.errno(), 'cannot create an epoll set') : new EpollReadiness(lib, epfd);
  return instance;
}
