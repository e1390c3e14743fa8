// Noticing that a wait service's socket is readable (a datagram arrived, a
// connection is pending) without reading or accepting anything: SIGIO.
//
// fcntl(F_SETOWN, our pid) + O_ASYNC make Linux send SIGIO when something
// arrives on the socket. SIGIO only says "something, somewhere": each one
// triggers a single poll(timeout 0) over every watched fd. SIGIO reports new
// arrivals only and signals coalesce, so there are two more polls: one right
// after an fd is (re)armed, for what arrived while it was not watched, and a
// cheap safety poll every 5 s while anything is watched.
//
// O_ASYNC lives on the open file description, which the handler shares once
// it has the socket: it is cleared when the fd stops being watched and set
// again (with F_SETOWN) when it is watched again. Other status flags are kept;
// in particular the socket stays blocking.
//
// The SIGIO listener is installed before any fd gets O_ASYNC (SIGIO's default
// action would kill the process) and is never removed. Main thread only:
// process.on signal listeners do not exist in worker threads.
import {
  EINTR,
  F_GETFL,
  F_SETFL,
  F_SETOWN,
  O_ASYNC,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  isNativeError,
  loadNative,
  type Native,
  type NativeError,
} from './native.js';

export interface Readiness {
  /**
   * Calls onReadable once, the next time fd has something to read (or an
   * error or hangup, which the handler will see); the fd is then no longer
   * watched (and has O_ASYNC cleared) until watch() again. Checks at once
   * (poll 0) for what arrived before. onReadable never runs inside watch().
   * Watching an fd already watched replaces its callback.
   */
  watch(fd: number, onReadable: () => void): void;
  /** Stops watching fd and clears O_ASYNC on it: before handing it to a handler or closing it. Idempotent. */
  unwatch(fd: number): void;
  /**
   * Whether fd has something to read (or an error or hangup) right now: one
   * poll(0), neither reading nor accepting, whether or not fd is watched. A
   * closed fd (POLLNVAL) is not readable.
   */
  isReadable(fd: number): boolean;
}

/** The safety poll, for a SIGIO that got lost (coalesced with another). */
const SAFETY_POLL_MS = 5000;
const POLLFD_SIZE = 8;
const READABLE = POLLIN | POLLERR | POLLHUP | POLLNVAL;

interface Entry {
  readonly fd: number;
  readonly onReadable: () => void;
  /** armed: polled; firing: seen readable, its callback is scheduled. */
  state: 'armed' | 'firing';
}

class SigioReadiness implements Readiness {
  private readonly entries = new Map<number, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private checkScheduled = false;

  constructor(private readonly lib: Native) {
    // Before any fd is armed. A listener must never throw: check() does not.
    process.on('SIGIO', () => this.check());
  }

  watch(fd: number, onReadable: () => void): void {
    if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`not a file descriptor: ${fd}`);
    this.entries.set(fd, { fd, onReadable, state: 'armed' });
    // A failure here (EBADF) shows in the poll as POLLNVAL.
    this.lib.fcntl(fd, F_SETOWN, process.pid);
    this.setAsync(fd, true);
    // After O_ASYNC is set: anything that arrived before is seen by this poll,
    // anything after raises SIGIO.
    this.scheduleCheck();
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.check(), SAFETY_POLL_MS);
      this.timer.unref();
    }
  }

  unwatch(fd: number): void {
    // A scheduled callback sees that its entry is gone and does not run.
    this.entries.delete(fd);
    this.setAsync(fd, false);
    this.stopTimerIfIdle();
  }

  isReadable(fd: number): boolean {
    const fds = Buffer.alloc(POLLFD_SIZE);
    fds.writeInt32LE(fd, 0);
    fds.writeInt16LE(POLLIN, 4);
    if (this.pollRetrying(fds, 1) <= 0) return false;
    const revents = fds.readUInt16LE(6);
    return (revents & POLLNVAL) === 0 && (revents & READABLE) !== 0;
  }

  /** poll(0), again after EINTR; -1 on another error (ENOMEM): the next SIGIO or the safety poll tries again. */
  private pollRetrying(fds: Buffer, count: number): number {
    let ready = -1;
    for (let tries = 0; tries < 100; tries++) {
      ready = this.lib.poll(fds, count, 0);
      if (ready >= 0 || this.lib.errno() !== EINTR) break;
    }
    return ready;
  }

  private setAsync(fd: number, on: boolean): void {
    const flags = this.lib.fcntl(fd, F_GETFL);
    if (flags < 0) return; // closed already: nothing to clear
    const next = on ? flags | O_ASYNC : flags & ~O_ASYNC;
    if (next !== flags) this.lib.fcntl(fd, F_SETFL, next);
  }

  private scheduleCheck(): void {
    if (this.checkScheduled) return;
    this.checkScheduled = true;
    setImmediate(() => {
      this.checkScheduled = false;
      this.check();
    });
  }

  private stopTimerIfIdle(): void {
    if (this.timer === undefined) return;
    for (const entry of this.entries.values()) if (entry.state === 'armed') return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One poll(0) over every armed fd; each readable one fires. Never throws. */
  private check(): void {
    const armed = [...this.entries.values()].filter((e) => e.state === 'armed');
    if (armed.length === 0) return;
    // struct pollfd { int fd; short events; short revents; }, little-endian on x86_64 and aarch64.
    const fds = Buffer.alloc(armed.length * POLLFD_SIZE);
    armed.forEach((entry, i) => {
      fds.writeInt32LE(entry.fd, i * POLLFD_SIZE);
      fds.writeInt16LE(POLLIN, i * POLLFD_SIZE + 4);
    });
    if (this.pollRetrying(fds, armed.length) <= 0) return;
    armed.forEach((entry, i) => {
      const revents = fds.readUInt16LE(i * POLLFD_SIZE + 6);
      if ((revents & READABLE) !== 0) this.fire(entry, (revents & POLLNVAL) !== 0);
    });
    this.stopTimerIfIdle();
  }

  private fire(entry: Entry, closed: boolean): void {
    entry.state = 'firing';
    // No longer watched: no SIGIO for it while its handler runs. POLLNVAL: the fd is closed.
    if (!closed) this.setAsync(entry.fd, false);
    // Never inside watch() or the SIGIO listener: a throwing callback is the
    // caller's uncaught exception, not the end of this loop.
    setImmediate(() => {
      if (this.entries.get(entry.fd) !== entry) return; // unwatched or watched anew meanwhile
      this.entries.delete(entry.fd);
      entry.onReadable();
    });
  }
}

let instance: Readiness | NativeError | undefined;

/** The process's one Readiness, or why native calls cannot be made here. */
export function readiness(): Readiness | NativeError {
  if (instance !== undefined) return instance;
  const lib = loadNative();
  instance = isNativeError(lib) ? lib : new SigioReadiness(lib);
  return instance;
}
