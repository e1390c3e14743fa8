// One handler's stderr pipe (its read end, superd's), from the spawn that made
// it to its close. `state` says where it is:
//
//   young    its handler started less than WAKE_AFTER_MS ago: not watched.
//            Most handlers write nothing there and are gone within
//            milliseconds; watching each pipe with a libuv handle (create,
//            register with epoll, a wake-up of the event loop for its end of
//            file, close) would cost superd CPU on every connection.
//   held     its handler exited, nothing was written, and someone still holds
//            the write end: looked at again when a spawn returns, and read
//            once HELD_AFTER_EXIT_MS have passed.
//   parked   its handler has lived WAKE_AFTER_MS and the pipe is quiet: out of
//            superd's descriptor table (park.ts) until something is written or
//            its writers are gone.
//   reading  read line by line until its end of file (read.ts).
//   closed   done: its descriptor is closed (a reading one's once its last
//            lines are handed on).
//
// Every change of state is made by to(), so the owner's sets follow it:
//
//   young   → closed    its handler exited, nothing written, no writer left:
//                       one poll(0) says so, and that is how nearly every
//                       handler ends
//   young   → reading   its handler exited having written something; or it
//                       grew up and cannot be parked
//   young   → held      its handler exited, and the write end is still held
//   young   → parked    it grew up (WAKE_AFTER_MS) and is quiet
//   held    → closed    looked at again (a spawn returned, or the sweep): no writer left
//   held    → reading   looked at again: written to; or still held HELD_AFTER_EXIT_MS
//                       after the exit (something the handler left behind)
//   parked  → reading   written to: handed back under a new descriptor
//   parked  → closed    its writers gone, nothing in it
//   reading → closed    its end of file
//   any     → closed    stop(): a process the handler left behind holds it
//
// Why a pipe is held: under load the poll at exit often finds the write end
// still held, and not by the handler. Every posix_spawn in flight on another
// pool thread cloned superd's descriptor table, and its child holds a copy of
// every pipe until its closefrom action, a moment later (longer when it is
// preempted). Such a pipe is not read at once but looked at again when a
// spawn returns: that child has exec'd by then, and its copies are gone.
//
// A young pipe grown up is read at the latest WAKE_AFTER_MS after its
// handler started: a long-lived handler's lines reach the log at most that
// late, and one that writes more than the pipe holds (64 KiB) in its first
// moments waits at most that long.
import type { LogFlow } from '../log/types.js';
import { hungUpEmpty, type FdCalls } from '../sys/fd.js';
import type { OnLine } from './lines.js';
import type { PipeParking } from './park.js';
import type { StderrReader } from './read.js';

export const WAKE_AFTER_MS = 100;
export const HELD_AFTER_EXIT_MS = 100;

export type PipeState = 'young' | 'held' | 'parked' | 'reading' | 'closed';

/** How a pipe's descriptor is read once it is to be: read.ts's readStderrLines, or a test's stand-in. */
export type ReadLines = (fd: number, onLine: OnLine, flow: LogFlow | null) => StderrReader;

/** What a pipe has of its owner (pipes.ts). */
export interface PipeOwner {
  readonly calls: Pick<FdCalls, 'pollIn' | 'close'>;
  /** Where a quiet pipe goes; null where it cannot be had. */
  readonly parking: PipeParking | null;
  readonly read: ReadLines;
  /** The pipe has left state `from` for its present one. */
  moved(pipe: StderrPipe, from: PipeState): void;
}

const noLines: OnLine = () => undefined;

export class StderrPipe implements StderrReader {
  ondone: (() => void) | null = null;
  readonly since = performance.now();
  /** When its handler exited: set as it becomes `held`. */
  exitedAt = 0;
  private current: PipeState = 'young';
  /** Its tag while parked. */
  private tag = -1;
  /** Its reader while reading, and after. */
  private reader: StderrReader | null = null;
  private onLine: OnLine = noLines;
  private flow: LogFlow | null = null;

  constructor(
    private readonly owner: PipeOwner,
    private readonly fd: number,
  ) {}

  get state(): PipeState {
    return this.current;
  }

  get done(): boolean {
    // A net.Socket's end comes a moment before its close: its reader says.
    return this.reader === null ? this.current === 'closed' : this.reader.done;
  }

  /** Where its lines go once it is read: given in the turn the spawn reported it. */
  log(onLine: OnLine, flow: LogFlow | null): this {
    this.onLine = onLine;
    this.flow = flow;
    return this;
  }

  /** Its descriptor now (an upgrade passes it on): null while parked (stderr/park.ts hands it back first) or once closed. */
  descriptor(): number | null {
    if (this.current === 'young' || this.current === 'held') return this.fd;
    return this.current === 'reading' ? (this.reader?.descriptor?.() ?? null) : null;
  }

  /** Its handler has lived WAKE_AFTER_MS: parked while it is quiet, else read from now on. */
  grow(): void {
    if (this.current !== 'young') return;
    const tag = this.owner.parking?.park(this.fd, (fd) => this.readFrom(fd), () => this.to('closed')) ?? -1;
    if (tag < 0) return this.readFrom(this.fd);
    this.tag = tag;
    this.to('parked');
  }

  handlerExited(): void {
    // A parked pipe reports its own end (park.ts), a read one ends with its end of file, a held one is looked at already.
    if (this.current !== 'young') return;
    this.exitedAt = performance.now();
    if (!this.look()) this.to('held');
  }

  /**
   * Settles a young or held pipe if it can be: closed when nothing was
   * written and no writer is left, read when something was written. False
   * while it is empty and held open.
   */
  look(): boolean {
    if (this.current !== 'young' && this.current !== 'held') return true;
    const revents = this.owner.calls.pollIn(this.fd);
    if (hungUpEmpty(revents)) {
      this.owner.calls.close(this.fd);
      this.to('closed');
      return true;
    }
    if (revents === 0) return false;
    this.readFrom(this.fd);
    return true;
  }

  /** Held for good: read as before, its end of file comes when the last writer goes. */
  keepReading(): void {
    if (this.current === 'held') this.readFrom(this.fd);
  }

  stop(): void {
    switch (this.current) {
      case 'closed':
        return;
      case 'reading':
        return this.reader?.stop();
      case 'parked':
        this.owner.parking?.close(this.tag);
        break;
      default:
        this.owner.calls.close(this.fd);
    }
    this.to('closed');
  }

  /** Read from now on: `fd` is the pipe's descriptor now (a parked pipe comes back under a new one). */
  private readFrom(fd: number): void {
    this.tag = -1;
    const reader = this.owner.read(fd, this.onLine, this.flow);
    this.reader = reader;
    this.to('reading');
    if (reader.done) this.to('closed');
    else reader.ondone = () => this.to('closed');
  }

  /** The one place its state changes; closed is for good. */
  private to(next: PipeState): void {
    const from = this.current;
    if (from === 'closed' || from === next) return;
    this.current = next;
    this.owner.moved(this, from);
    if (next === 'closed') this.ondone?.();
  }
}
