// A handler's stderr pipe, not watched while it is young. Most handlers write
// nothing there and are gone within milliseconds; watching each pipe with a
// libuv handle (create, register with epoll, a wake-up of the event loop for
// its end of file, close) costs superd CPU on every connection. So a pipe is
// left alone at first: when its handler exits, one poll(0) says whether
// anything was written or anyone still holds it; if not, it is closed there
// and then. A handler still running WAKE_AFTER_MS after it started has its
// pipe read as before, so a long-lived one's lines reach the log at most that
// late, and one that writes more than the pipe holds (64 KiB) in its first
// moments waits at most that long.
import { POLLHUP, POLLIN } from '../listen/native.js';
import type { Libc } from './libc.js';
import type { StderrReader } from './stderr.js';

export const WAKE_AFTER_MS = 100;

const young = new Set<LazyPipe>();
let sweep: NodeJS.Timeout | null = null;

class LazyPipe implements StderrReader {
  ondone: (() => void) | null = null;
  private reader: StderrReader | null = null;
  private closed = false;
  readonly since = performance.now();

  constructor(
    private readonly libc: Libc,
    private readonly fd: number,
    private readonly read: (fd: number) => StderrReader,
  ) {}

  get done(): boolean {
    return this.reader === null ? this.closed : this.reader.done;
  }

  /** Read from now on, as every pipe used to be. */
  wake(): void {
    young.delete(this);
    if (this.reader !== null || this.closed) return;
    const reader = this.read(this.fd);
    this.reader = reader;
    if (reader.done) this.ondone?.();
    else reader.ondone = () => this.ondone?.();
  }

  handlerExited(): void {
    if (this.reader !== null || this.closed) return;
    const revents = this.libc.pollIn(this.fd);
    // Nothing to read and no writer left: how nearly every handler ends.
    if (revents >= 0 && (revents & POLLIN) === 0 && (revents & POLLHUP) !== 0) this.close();
    else this.wake();
  }

  stop(): void {
    if (this.reader !== null) return this.reader.stop();
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    young.delete(this);
    this.closed = true;
    this.libc.close(this.fd);
    this.ondone?.();
  }
}

/** One timer for every young pipe; the oldest come first in the set, so a sweep stops at the first still young. */
function sweepYoung(): void {
  const old = performance.now() - WAKE_AFTER_MS;
  for (const pipe of young) {
    if (pipe.since > old) break;
    pipe.wake();
  }
  if (young.size === 0 && sweep !== null) {
    clearInterval(sweep);
    sweep = null;
  }
}

/** A reader of the pipe `fd` that starts reading (through `read`) only once its handler has lived WAKE_AFTER_MS. */
export function lazyStderr(libc: Libc, fd: number, read: (fd: number) => StderrReader): StderrReader {
  const pipe = new LazyPipe(libc, fd, read);
  young.add(pipe);
  if (sweep === null) {
    sweep = setInterval(sweepYoung, WAKE_AFTER_MS / 2);
    sweep.unref();
  }
  return pipe;
}
