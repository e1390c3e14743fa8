// Reaps the handlers superd starts with posix_spawn, at a cost per exited
// child, not per running one. While no child of child_process runs (nearly
// always), every child is superd's: waitid(P_ALL) reaps whichever exited,
// one call each, and one whose spawn has not reported back yet is kept for
// the watch() that follows. While libuv has children (it reaps its own by
// pid, and must find them), waitid(P_ALL, WNOWAIT) names an exited child
// without reaping it: if it is ours it is reaped by pid, and we ask again;
// a pid it does not know is never reaped.
//
// waitid(P_ALL) walks every child in the kernel, and long-running handlers
// come first in that list: with thousands of them, the walks were the
// largest cost of each short handler's exit. So while MANY or more run, a
// SIGCHLD first asks the recently started handlers by pid (the kernel finds
// a pid without a walk), and the walk that finds every other exit runs at
// most every WALK_MS.
import { P_ALL, P_PID, WEXITED, WNOHANG, WNOWAIT } from '../sys/constants.js';
import type { ProcessCalls, SigInfo } from '../sys/process.js';
import { signalName } from './signal-name.js';
import type { ExitStatus } from '../spawn/types.js';

/** A slow sweep in case a SIGCHLD is ever missed; signals coalesce, pids do not. */
const SWEEP_MS = 5000;
/** Exits kept for spawns not yet reported back: at most the spawns in flight (64), with room to spare. */
const MAX_EARLY = 1024;
/** From this many running children on, exits are looked for by pid first. */
const MANY = 256;
/** How many of the latest handlers a SIGCHLD asks by pid. */
const RECENT = 32;
/** With MANY children, the walk over all of them at most this often: an older handler's exit waits at most this long. */
const WALK_MS = 100;

/** For a Reaper whose spawner has no child_process beside it: every child is its own. */
const NO_CHILD_PROCESS: { readonly running: number } = { running: 0 };

export class Reaper {
  private readonly waiting = new Map<number, (status: ExitStatus) => void>();
  /** Reaped before their spawn reported back: the exit waits for watch(). */
  private readonly early = new Map<number, ExitStatus>();
  private readonly info: SigInfo;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** A child exited before its pid was watched: look again once it is. */
  private unknownExited = false;
  /** The latest watched pids, newest last (some reaped already). */
  private readonly recent: number[] = [];
  private walkTimer: NodeJS.Timeout | null = null;

  /**
   * `unregistered()` counts children that may exist before their pid is
   * watched (spawns not yet reported back): an unknown exited pid is then
   * left for the watch() that will follow, instead of a sweep over all.
   */
  constructor(
    private readonly libc: Pick<ProcessCalls, 'waitid' | 'sigInfo'>,
    private readonly unregistered: () => number,
    /** The child_process spawner, whose children libuv reaps: while any run, only known pids are reaped. */
    private readonly childProcess: { readonly running: number } = NO_CHILD_PROCESS,
  ) {
    this.info = libc.sigInfo();
    process.on('SIGCHLD', () => this.reap());
  }

  watch(pid: number, onExit: (status: ExitStatus) => void): void {
    const status = this.early.get(pid);
    if (status !== undefined) {
      this.early.delete(pid);
      onExit(status);
      return;
    }
    this.waiting.set(pid, onExit);
    if (this.waiting.size >= MANY && this.childProcess.running === 0) {
      this.recent.push(pid);
      if (this.recent.length > RECENT) this.recent.shift();
      // Its SIGCHLD may have come before its pid was known, and been answered by pid only.
      this.tryPid(pid);
    }
    if (this.sweepTimer === null) {
      this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
      this.sweepTimer.unref();
    }
    // Its SIGCHLD may have come and gone before its pid was known.
    if (this.unknownExited) this.reap();
  }

  reap(): void {
    this.unknownExited = false;
    if (this.childProcess.running === 0) return this.reapAll();
    for (;;) {
      const pid = this.peek();
      if (pid <= 0) break;
      if (!this.waiting.has(pid)) {
        // Not ours yet, or libuv's: it hides every exited child behind it.
        if (this.unregistered() > 0) this.unknownExited = true;
        else this.sweep();
        break;
      }
      this.collect(pid);
    }
  }

  /** Every child is superd's: the latest by pid while many run, then (at most every WALK_MS then) a walk. */
  private reapAll(): void {
    if (this.waiting.size < MANY) return this.walk();
    for (const pid of this.recent) if (this.waiting.has(pid)) this.tryPid(pid);
    if (this.walkTimer === null) {
      this.walkTimer = setTimeout(() => {
        this.walkTimer = null;
        if (this.childProcess.running === 0) this.walk();
        else this.reap();
      }, WALK_MS);
      this.walkTimer.unref();
    }
  }

  /**
   * Reaps pid if it has exited: the kernel finds it without walking the other
   * children. False when it is not a child of superd's at all (ECHILD).
   */
  private tryPid(pid: number): boolean {
    this.info.clear();
    if (this.libc.waitid(P_PID, pid, this.info, WEXITED | WNOHANG) !== 0) return false;
    if (this.info.pid === pid) this.finish(pid, this.decode());
    return true;
  }

  /** Reaps each exited child with one call, each a walk over the children. */
  private walk(): void {
    for (;;) {
      this.info.clear();
      if (this.libc.waitid(P_ALL, 0, this.info, WEXITED | WNOHANG) !== 0) break; // ECHILD: none left
      const pid = this.info.pid;
      if (pid <= 0) break;
      const status = this.decode();
      if (this.waiting.has(pid)) this.finish(pid, status);
      else if (this.early.size < MAX_EARLY) this.early.set(pid, status);
    }
  }

  /**
   * One look per watched pid: only when waitid(P_ALL) is blocked by a
   * stranger, and every 5 s. The 5 s timer ends at a tick that finds no
   * handler left, not at the exit of the last one: under load the count
   * touches 0 between connections, and a timer made and cleared each time
   * was work on the path of every connection.
   */
  private sweep(): void {
    for (const pid of [...this.waiting.keys()]) {
      // ECHILD: someone else reaped it; report it as gone rather than wait forever.
      if (!this.tryPid(pid)) this.finish(pid, { code: null, signal: null });
    }
    this.stopSweepWhenIdle();
  }

  /** The pid of an exited child, not reaped; 0 when none, -1 when there are no children. */
  private peek(): number {
    this.info.clear();
    if (this.libc.waitid(P_ALL, 0, this.info, WEXITED | WNOHANG | WNOWAIT) !== 0) return -1;
    return this.info.pid;
  }

  private collect(pid: number): void {
    this.info.clear();
    const rc = this.libc.waitid(P_PID, pid, this.info, WEXITED | WNOHANG);
    this.finish(pid, rc === 0 ? this.decode() : { code: null, signal: null });
  }

  private decode(): ExitStatus {
    const { status } = this.info;
    return this.info.exited ? { code: status, signal: null } : { code: null, signal: signalName(status) };
  }

  private finish(pid: number, status: ExitStatus): void {
    const onExit = this.waiting.get(pid);
    this.waiting.delete(pid);
    onExit?.(status);
  }

  private stopSweepWhenIdle(): void {
    if (this.waiting.size === 0 && this.sweepTimer !== null) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = null;
    }
  }
}
