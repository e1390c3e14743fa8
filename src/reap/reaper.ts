// Reaps the handlers superd starts with posix_spawn, at a cost per exited
// child, not per running one, and never a child it did not start: libuv
// reaps child_process's children (handlers, or a lookup such as getent) by
// pid, and one reaped by anyone else never reports its exit. So
// waitid(P_ALL, WNOWAIT) names an exited child without reaping it; a watched
// pid is then reaped by pid (the kernel finds a pid without a walk), and we
// ask again. Any other pid hides the exits behind it: a spawn not reported
// back yet is looked at again by the watch() that follows; a stranger
// (libuv's, or a child superd inherited) is left alone, and the watched pids
// are asked one by one instead.
//
// waitid(P_ALL) walks every child in the kernel, and long-running handlers
// come first in that list: with thousands of them, the walks were the
// largest cost of each short handler's exit. So while MANY or more run, a
// SIGCHLD first asks the recently started handlers by pid, and the walk that
// finds every other exit runs at most every WALK_MS.
import { P_ALL, P_PID, WEXITED, WNOHANG, WNOWAIT } from '../sys/constants.js';
import type { ProcessCalls, SigInfo } from '../sys/process.js';
import { signalName } from './signal-name.js';
import type { ExitStatus } from '../spawn/types.js';

/** A slow sweep in case a SIGCHLD is ever missed; signals coalesce, pids do not. */
const SWEEP_MS = 5000;
/** From this many running children on, exits are looked for by pid first. */
const MANY = 256;
/** How many of the latest handlers a SIGCHLD asks by pid. */
const RECENT = 32;
/** With MANY children, the walk over all of them at most this often: an older handler's exit waits at most this long. */
const WALK_MS = 100;

export class Reaper {
  private readonly waiting = new Map<number, (status: ExitStatus) => void>();
  private readonly info: SigInfo;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** An unknown exited pid hid the others, and a spawn was in flight: look again at the next watch(). */
  private unknownExited = false;
  /** The unknown pid that last hid the others: hiding again, it is no spawn in flight but a stranger. */
  private hider = 0;
  /** The latest watched pids, newest last (some reaped already). */
  private readonly recent: number[] = [];
  private walkTimer: NodeJS.Timeout | null = null;

  /**
   * `unregistered()` counts children that may exist before their pid is
   * watched (spawns not yet reported back): an unknown exited pid is then
   * first taken for one of them, and looked at again once it is watched.
   */
  constructor(
    private readonly libc: Pick<ProcessCalls, 'waitid' | 'sigInfo'>,
    private readonly unregistered: () => number,
  ) {
    this.info = libc.sigInfo();
    process.on('SIGCHLD', () => this.reap());
  }

  watch(pid: number, onExit: (status: ExitStatus) => void): void {
    this.waiting.set(pid, onExit);
    // The pid that last hid the others was ours after all. Pids are reused
    // (pid_max is 32768 on many hosts): a later spawn with this pid that
    // exits before it is watched must be taken for a spawn again, not for a
    // stranger, or its zombie waits for the next SIGCHLD or the sweep.
    const hid = pid === this.hider;
    if (hid) this.hider = 0;
    if (this.waiting.size >= MANY) {
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
    if (this.unknownExited || hid) this.reap();
  }

  /**
   * A child that an earlier image of this process started (an upgrade in
   * place, src/upgrade/): watched from now on, and reaped at once if it has
   * exited already (no zombie is left). One that is no child of ours
   * (ECHILD) is reported gone.
   */
  adopt(pid: number, onExit: (status: ExitStatus) => void): void {
    this.watch(pid, onExit);
    if (!this.tryPid(pid)) this.finish(pid, { code: null, signal: null });
  }

  /** The latest by pid while many run, then (at most every WALK_MS then) a walk. */
  reap(): void {
    this.unknownExited = false;
    if (this.waiting.size < MANY) return this.walk();
    for (const pid of this.recent) if (this.waiting.has(pid)) this.tryPid(pid);
    if (this.walkTimer === null) {
      this.walkTimer = setTimeout(() => {
        this.walkTimer = null;
        this.walk();
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

  /** Reaps each exited watched child: a walk names it (WNOWAIT: not reaped), a call by pid reaps it. */
  private walk(): void {
    for (;;) {
      this.info.clear();
      if (this.libc.waitid(P_ALL, 0, this.info, WEXITED | WNOHANG | WNOWAIT) !== 0) return; // ECHILD: no children
      const pid = this.info.pid;
      if (pid <= 0) return;
      if (!this.waiting.has(pid)) return this.hiddenBy(pid);
      this.collect(pid);
    }
  }

  /** An exited child that is not ours (yet) comes first in every walk, and hides the exits behind it. */
  private hiddenBy(pid: number): void {
    if (this.unregistered() > 0 && pid !== this.hider) {
      this.hider = pid;
      this.unknownExited = true;
    } else {
      this.sweep();
    }
  }

  /**
   * One look per watched pid: only when a stranger hides the exits from the
   * walk, and every 5 s. The 5 s timer ends at a tick that finds no
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
