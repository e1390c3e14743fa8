// The stderr pipes of the handlers superd starts with posix_spawn, and what
// watches them: the young and the held ones (pipe.ts says what those are),
// one timer for both, and the parking for the quiet ones (park.ts). The
// HandlerSpawner makes one (spawn/spawner.ts) and hands it to the posix_spawn
// path, which gives it each new pipe and tells it when a spawn has returned.
import type { Sys } from '../sys/load.js';
import { newParking, type PipeParking } from './park.js';
import { HELD_AFTER_EXIT_MS, StderrPipe, WAKE_AFTER_MS, type PipeOwner, type PipeState, type ReadLines } from './pipe.js';
import { readStderrLines } from './read.js';

export interface StderrPipesOptions {
  /** Where quiet pipes go: made with the first pipe (it needs superd's readiness thread). */
  parking?: (lib: Sys) => PipeParking | null;
  /** How a pipe is read once it is to be. */
  read?: ReadLines;
}

export class StderrPipes implements PipeOwner {
  readonly read: ReadLines;
  private readonly makeParking: (lib: Sys) => PipeParking | null;
  /** Undefined until the first pipe comes. */
  private parked: PipeParking | null | undefined;
  /** Oldest first, as each set's sweep needs: a sweep stops at the first still too young. */
  private readonly young = new Set<StderrPipe>();
  /** Exited handlers' pipes whose write end someone else still held at the last look, oldest first. */
  private readonly held = new Set<StderrPipe>();
  private sweep: NodeJS.Timeout | null = null;

  constructor(
    readonly calls: Sys,
    options: StderrPipesOptions = {},
  ) {
    this.makeParking = options.parking ?? newParking;
    this.read = options.read ?? readStderrLines;
  }

  get parking(): PipeParking | null {
    return this.parked ?? null;
  }

  /** A new handler's pipe, young from now on. */
  adopt(fd: number): StderrPipe {
    if (this.parked === undefined) this.parked = this.makeParking(this.calls);
    const pipe = new StderrPipe(this, fd);
    this.young.add(pipe);
    this.startSweep();
    return pipe;
  }

  /** Every parked pipe read again (an upgrade passes the pipes on: src/upgrade/). */
  handBackAll(): void {
    this.parked?.handBackAll();
  }

  /**
   * A posix_spawn has returned: its child has exec'd, and the pipes it held
   * with it are free. Each held pipe is looked at again, one poll(0) each.
   */
  spawnReturned(): void {
    for (const pipe of this.held) pipe.look();
  }

  /** For its pipes (pipe.ts): a pipe has moved, and the sets follow it. */
  moved(pipe: StderrPipe, from: PipeState): void {
    if (from === 'young') this.young.delete(pipe);
    else if (from === 'held') this.held.delete(pipe);
    if (pipe.state !== 'held') return;
    this.held.add(pipe);
    this.startSweep();
  }

  /**
   * One timer for every young and every held pipe. A young pipe grows up
   * WAKE_AFTER_MS after its handler started; a pipe still held
   * HELD_AFTER_EXIT_MS after its handler exited is read from then on.
   */
  private sweepPipes(): void {
    const now = performance.now();
    for (const pipe of this.young) {
      if (pipe.since > now - WAKE_AFTER_MS) break;
      pipe.grow();
    }
    for (const pipe of this.held) {
      if (pipe.exitedAt > now - HELD_AFTER_EXIT_MS) break;
      if (!pipe.look()) pipe.keepReading();
    }
    if (this.young.size === 0 && this.held.size === 0 && this.sweep !== null) {
      clearInterval(this.sweep);
      this.sweep = null;
    }
  }

  private startSweep(): void {
    if (this.sweep !== null) return;
    this.sweep = setInterval(() => this.sweepPipes(), WAKE_AFTER_MS / 2);
    this.sweep.unref();
  }
}
