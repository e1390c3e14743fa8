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
//
// Under load the poll at exit often finds the write end still held, and not
// by the handler: every posix_spawn in flight on another pool thread cloned
// superd's descriptor table, and its child holds a copy of every pipe until
// its closefrom action, a moment later (longer when it is preempted). Such a
// pipe is not read at once (a libuv handle, an epoll registration and a
// wake-up for its end of file) but looked at again when a spawn returns:
// that child has exec'd by then, and its copies are gone. One still held
// HELD_AFTER_EXIT_MS after its handler exited has a writer that stays
// (something the handler left behind), and is read as before.
import { hungUpEmpty, type FdCalls } from '../sys/fd.js';
import type { StderrReader } from './read.js';
import type { PipeParking } from './park.js';

/** The calls a young pipe needs. */
type PipeLibc = Pick<FdCalls, 'pollIn' | 'close'>;

export const WAKE_AFTER_MS = 100;
export const HELD_AFTER_EXIT_MS = 100;

const young = new Set<LazyPipe>();
let sweep: NodeJS.Timeout | null = null;
/** Exited handlers' pipes whose write end someone else still held at the last look, oldest first. */
const held = new Set<LazyPipe>();

class LazyPipe implements StderrReader {
  ondone: (() => void) | null = null;
  private reader: StderrReader | null = null;
  private closed = false;
  /** Its tag while parked, else -1. */
  private parkedAs = -1;
  readonly since = performance.now();
  /** When its handler exited, while its pipe is in `held`. */
  exitedAt = 0;

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
    if (this.reader !== null || this.closed || this.parkedAs >= 0 || held.has(this)) return;
    young.delete(this);
    this.exitedAt = performance.now();
    if (this.look()) return;
    held.add(this);
    startSweep();
  }

  /**
   * Settles an exited handler's pipe if it can be: closed when nothing was
   * written and no writer is left (how nearly every handler ends), read when
   * something was written. False while it is empty and held open.
   */
  look(): boolean {
    const revents = this.lib.pollIn(this.fd);
    if (hungUpEmpty(revents)) {
      this.lib.close(this.fd);
      this.gone();
      return true;
    }
    if (revents === 0) return false;
    this.readFrom(this.fd);
    return true;
  }

  /** Held for good: read as before, its end of file comes when the last writer goes. */
  keepReading(): void {
    this.readFrom(this.fd);
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
    held.delete(this);
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
    held.delete(this);
    this.parkedAs = -1;
    this.closed = true;
    this.ondone?.();
  }
}

/**
 * A posix_spawn has returned: its child has exec'd, and the pipes it held
 * with it are free. Each held pipe is looked at again, one poll(0) each.
 */
export function spawnReturned(): void {
  for (const pipe of held) pipe.look();
}

/**
 * One timer for every young and every held pipe; the oldest come first in
 * each set, so a sweep stops at the first still young. A pipe still held
 * HELD_AFTER_EXIT_MS after its handler exited is read from then on.
 */
function sweepPipes(): void {
  const now = performance.now();
  for (const pipe of young) {
    if (pipe.since > now - WAKE_AFTER_MS) break;
    pipe.grow();
  }
  for (const pipe of held) {
    if (pipe.exitedAt > now - HELD_AFTER_EXIT_MS) break;
    if (!pipe.look()) pipe.keepReading();
  }
  if (young.size === 0 && held.size === 0 && sweep !== null) {
    clearInterval(sweep);
    sweep = null;
  }
}

function startSweep(): void {
  if (sweep !== null) return;
  sweep = setInterval(sweepPipes, WAKE_AFTER_MS / 2);
  sweep.unref();
}

/** A reader of the pipe `fd` that starts reading (through `read`) only once its handler has lived WAKE_AFTER_MS, and then only while it is not parked. */
export function lazyStderr(lib: PipeLibc, parking: PipeParking | null, fd: number, read: (fd: number) => StderrReader): StderrReader {
  const pipe = new LazyPipe(lib, parking, fd, read);
  young.add(pipe);
  startSweep();
  return pipe;
}
