// Starts handlers with glibc posix_spawn (clone(CLONE_VM|CLONE_VFORK) + exec)
// on a libuv pool thread: the daemon's address space is never copied, and only
// that pool thread waits for the child's exec, never the event loop. libuv's
// spawn fork()s the whole Node process and blocks the loop until the exec,
// which costs several times more daemon CPU per connection (bench/README.md).
import { O_CLOEXEC, POSIX_SPAWN_SETPGROUP, POSIX_SPAWN_SETSCHEDULER, POSIX_SPAWN_SETSID, POSIX_SPAWN_SETSIGDEF, POSIX_SPAWN_SETSIGMASK, SCHED_OTHER } from '../sys/constants.js';
import { strerror } from '../sys/errors.js';
import type { Sys } from '../sys/load.js';
import { SIZEOF_ATTR, SIZEOF_SIGSET } from '../sys/spawn.js';
import { Reaper } from '../reap/reaper.js';
import type { StderrPipes } from '../stderr/pipes.js';
import { FileActions } from './file-actions.js';
import { NO_PRIORITY } from './sched.js';
import type { ExitStatus, SpawnResult, Spawner, SpawnRequest } from './types.js';

/** pid buffers kept for reuse; more in flight are simply allocated. */
const SPARE_PIDS = 64;

/** What the spawn attributes give every handler besides its process group (see create). */
export interface HandlerAttributes {
  /** A session of its own (session.ts). */
  ownSession: boolean;
  /** Back to SCHED_OTHER: the pool threads that start handlers run SCHED_BATCH (sched.ts). */
  resetScheduler: boolean;
}

/** What works beside a PosixSpawner in the HandlerSpawner (spawner.ts); a PosixSpawner on its own (tests) has none of it, and hands back bare stderr descriptors. */
export interface Beside {
  /** Given each new stderr pipe, and told when a spawn has returned: its child's copies of every pipe are gone then. */
  stderr: StderrPipes;
}

export class PosixSpawner implements Spawner {
  readonly name = 'posix_spawn';
  private readonly pipeFds = new Int32Array(2);
  private readonly fileActions: FileActions;
  /** pid buffers of spawns that have returned, for the next ones: a typed array per call is a backing store to allocate and sweep. */
  private readonly sparePids: Int32Array[] = [];
  /** A service's argv with the NULL execve wants, made once per argv array. */
  private readonly argvs = new WeakMap<readonly string[], (string | null)[]>();
  private inFlight = 0;
  private readonly reaper: Reaper;

  /** `attr` is read-only once built, so every concurrent spawn shares it. */
  private constructor(
    private readonly libc: Sys,
    private readonly attr: Buffer,
    private readonly beside: Beside | undefined,
  ) {
    this.reaper = new Reaper(libc, () => this.inFlight);
    this.fileActions = new FileActions(libc);
  }

  /**
   * The same attributes for every handler: a process group of its own (and a
   * session of its own when `ownSession`: see session.ts), no blocked
   * signals, and every signal back to its default action — Node ignores
   * SIGPIPE, and a handler must not inherit that.
   * A Linux sigset_t holds signal N in bit N-1. glibc's sigfillset leaves out
   * its two internal signals (32, 33), and posix_spawn then sets them to
   * SIG_IGN in the child, which survives exec: so every bit 1..64 is set here.
   * With `resetScheduler`, SCHED_OTHER too: the pool threads that start
   * handlers run SCHED_BATCH (sched.ts).
   */
  static create(libc: Sys, { ownSession, resetScheduler }: HandlerAttributes, beside?: Beside): PosixSpawner | Error {
    const attr = Buffer.alloc(SIZEOF_ATTR);
    const empty = Buffer.alloc(SIZEOF_SIGSET);
    const full = Buffer.alloc(SIZEOF_SIGSET).fill(0xff, 0, 8);
    // SETPGROUP with the attribute's pgroup left at 0: setpgid(0, 0), a group led by the handler.
    const flags = (ownSession ? POSIX_SPAWN_SETSID : POSIX_SPAWN_SETPGROUP) | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (resetScheduler ? POSIX_SPAWN_SETSCHEDULER : 0);
    const steps: [string, () => number][] = [
      ['posix_spawnattr_init', () => libc.attrInit(attr)],
      ['posix_spawnattr_setsigmask', () => libc.attrSetSigMask(attr, empty)],
      ['posix_spawnattr_setsigdefault', () => libc.attrSetSigDefault(attr, full)],
      ['posix_spawnattr_setschedpolicy', () => libc.attrSetSchedPolicy(attr, SCHED_OTHER)],
      ['posix_spawnattr_setschedparam', () => libc.attrSetSchedParam(attr, NO_PRIORITY)],
      ['posix_spawnattr_setflags', () => libc.attrSetFlags(attr, flags)],
    ];
    for (const [name, step] of steps) {
      const rc = step();
      if (rc !== 0) return new Error(`${name} failed: ${strerror(rc)}`);
    }
    return new PosixSpawner(libc, attr, beside);
  }

  spawn(req: SpawnRequest, onStarted: (result: SpawnResult) => void, onExit: (status: ExitStatus) => void): void {
    const { libc } = this;
    let stderrRead = -1;
    let stderrWrite = -1;
    if (req.stderr === 'log') {
      if (libc.pipe2(this.pipeFds, O_CLOEXEC) !== 0) {
        onStarted({ code: 'spawn_failed', message: `cannot create a pipe for stderr: ${strerror(libc.errno())}` });
        return;
      }
      stderrRead = this.pipeFds[0] ?? -1;
      stderrWrite = this.pipeFds[1] ?? -1;
    }

    // Lent until the spawn returns: the pool thread reads them meanwhile.
    const lent = this.fileActions.lend({ fd: req.fd, stderr: req.stderr, stderrWrite });
    const pid = this.sparePids.pop() ?? new Int32Array(1);

    const finish = (rc: number, why: string): boolean => {
      if (typeof lent !== 'string') lent.giveBack();
      if (stderrWrite >= 0) libc.close(stderrWrite);
      if (rc === 0) return true;
      if (stderrRead >= 0) libc.close(stderrRead);
      onStarted({ code: 'spawn_failed', message: `cannot execute ${req.program}: ${why}` });
      return false;
    };
    if (typeof lent === 'string') {
      finish(-1, lent);
      return;
    }
    this.inFlight += 1;
    const done = (err: unknown, rc: number): void => {
      this.inFlight -= 1;
      // Its child had a copy of every pipe superd holds, until its exec.
      this.beside?.stderr.spawnReturned();
      if (err !== null && err !== undefined) rc = -1;
      if (!finish(rc, rc > 0 ? strerror(rc) : String(err))) return;
      const child = pid[0] ?? 0;
      if (this.sparePids.length < SPARE_PIDS) this.sparePids.push(pid);
      const stderr = stderrRead < 0 ? null : (this.beside?.stderr.adopt(stderrRead) ?? stderrRead);
      // Started before watched: its exit is reported after its start, even
      // when it has exited already.
      onStarted({ pid: child, stderr });
      this.reaper.watch(child, onExit);
    };
    try {
      libc.posixSpawnAsync(pid, req.program, lent.actions, this.attr, this.argvOf(req.argv), [...req.env, null], done);
    } catch (err) {
      // koffi refuses a call when its async queue is full; the spawner's limit should prevent it.
      this.inFlight -= 1;
      finish(-1, (err as Error).message);
    }
  }

  adopt(pid: number, onExit: (status: ExitStatus) => void): void {
    this.reaper.adopt(pid, onExit);
  }

  unparkStderr(): void {
    this.beside?.stderr.handBackAll();
  }

  private argvOf(argv: readonly string[]): (string | null)[] {
    let withNull = this.argvs.get(argv);
    if (withNull === undefined) {
      withNull = [...argv, null];
      this.argvs.set(argv, withNull);
    }
    return withNull;
  }
}
