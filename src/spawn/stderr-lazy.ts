// A handler's stderr pipe, not watched while it is young. Most handlers write
// nothing there and are gone within milliseconds; watching each pipe with a
// libuv handle (create, register with epoll, a wake-up of the event loop for
// its end of file, close) costs superd CPU on every connection. So a pipe is
// left alone at first: when its handler exits, one poll(0) says whether
// anything was written or anyone still holds it; if not, it is closed there
// and then. A handler still running WAKE_AFTER_MS after it started has its
// pipe parked (stderr-park.ts) while it is quiet, or read as before, so a
// long-lived one's lines reach the log at most that late, and one that writes
// more than the pipe holds (64 KiB) in its first moments waits at most that
// long.
import { hungUpEmpty, type ParkLibc } from './park-libc.js';
import type { StderrReader } from './stderr.js';
import type { PipeParking } from './stderr-park.js';

/** The calls a young pipe needs. */
type PipeLibc = Pick<ParkLibc, 'pollIn' | 'close'>;

export const WAKE_AFTER_MS = 100;

const young = new Set<LazyPipe>();
let sweep: NodeJS.Timeout | null = null;

class LazyPipe implements StderrReader {
  ondone: (() => void) | null = null;
  private reader: StderrReader | null = null;
  private closed = false;
  /** Its tag while parked, else -1. */
  private parkedAs = -1;
  readonly since = performance.now();

  constructor(
    private readonly lib: PipeLibc,
    private readonly parking: PipeParking | null,
    private readonly fd: number,
    private readonly read: (fd: number) => StderrReader,
  ) {}

  get done(): boolean {
    return this.reader === null ? this.closed : this.reader.done;
  }

  /** Grown up: parked while it is quiet, else read from now on. */
  grow(): void {
    young.delete(this);
    if (this.reader !== null || this.closed || this.parkedAs >= 0) return;
    this.parkedAs = this.parking?.park(this.fd, (fd) => this.readFrom(fd), () => this.gone()) ?? -1;
    if (this.parkedAs < 0) this.readFrom(this.fd);
  }

  handlerExited(): void {
    // A parked pipe reports its own end (stderr-park.ts); a read one ends with its end of file.
    if (this.reader !== null || this.closed || this.parkedAs >= 0) return;
    // Nothing to read and no writer left: how nearly every handler ends.
    if (hungUpEmpty(this.lib.pollIn(this.fd))) {
      this.lib.close(this.fd);
      this.gone();
    } else {
      // Read, not parked: its writer is usually a spawn in flight on another
      // thread, whose copy of the descriptor goes with its exec a moment later.
      this.readFrom(this.fd);
    }
  }

  stop(): void {
    if (this.reader !== null) return this.reader.stop();
    if (this.closed) return;
    if (this.parkedAs >= 0) this.parking?.close(this.parkedAs);
    else this.lib.close(this.fd);
    this.gone();
  }

  /** Read from now on, as every pipe used to be: `fd` is the pipe's descriptor now. */
  private readFrom(fd: number): void {
    young.delete(this);
    this.parkedAs = -1;
    const reader = this.read(fd);
    this.reader = reader;
    if (reader.done) this.ondone?.();
    else reader.ondone = () => this.ondone?.();
  }

  /** Its descriptor has been closed. */
  private gone(): void {
    if (this.closed) return;
    young.delete(this);
    this.parkedAs = -1;
    this.closed = true;
    this.ondone?.();
  }
}

/** One timer for every young pipe; the oldest come first in the set, so a sweep stops at the first still young. */
function sweepYoung(): void {
  const old = performance.now() - WAKE_AFTER_MS;
  for (const pipe of young) {
    if (pipe.since > old) break;
    pipe.grow();
  }
  if (young.size === 0 && sweep !== null) {
    clearInterval(sweep);
    sweep = null;
  }
}

/** A reader of the pipe `fd` that starts reading (through `read`) only once its handler has lived WAKE_AFTER_MS, and then only while it is not parked. */
export function lazyStderr(lib: PipeLibc, parking: PipeParking | null, fd: number, read: (fd: number) => StderrReader): StderrReader {
  const pipe = new LazyPipe(lib, parking, fd, read);
  young.add(pipe);
  if (sweep === null) {
    sweep = setInterval(sweepYoung, WAKE_AFTER_MS / 2);
    sweep.unref();
  }
  return pipe;
}
