// Starts handlers with glibc posix_spawn (clone(CLONE_VM|CLONE_VFORK) + exec)
// on a libuv pool thread: the daemon's address space is never copied, and only
// that pool thread waits for the child's exec, never the event loop. libuv's
// spawn fork()s the whole Node process and blocks the loop until the exec,
// which costs several times more daemon CPU per connection (bench/README.md).
import { strerror } from './strerror.js';
import {
  O_CLOEXEC,
  O_WRONLY,
  POSIX_SPAWN_SETSID,
  POSIX_SPAWN_SETSIGDEF,
  POSIX_SPAWN_SETSIGMASK,
  SIZEOF_ACTIONS,
  SIZEOF_ATTR,
  SIZEOF_SIGSET,
  type Libc,
} from './libc.js';
import { libuvChildren } from './node.js';
import { Reaper } from './reaper.js';
import type { ExitStatus, SpawnResult, Spawner, SpawnRequest } from './types.js';

/** Spare file-action buffers kept for reuse; more in flight are simply allocated. */
const SPARE_ACTIONS = 16;

export class PosixSpawner implements Spawner {
  readonly name = 'posix_spawn';
  private readonly pipeFds = new Int32Array(2);
  private readonly spareActions: Buffer[] = [];
  private inFlight = 0;
  private readonly reaper: Reaper;

  /** `attr` is read-only once built, so every concurrent spawn shares it. */
  private constructor(
    private readonly libc: Libc,
    private readonly attr: Buffer,
  ) {
    this.reaper = new Reaper(libc, () => this.inFlight, libuvChildren);
  }

  /**
   * The same attributes for every handler: a session (and so a process group)
   * of its own, no blocked signals, and every signal back to its default
   * action — Node ignores SIGPIPE, and a handler must not inherit that.
   * A Linux sigset_t holds signal N in bit N-1. glibc's sigfillset leaves out
   * its two internal signals (32, 33), and posix_spawn then sets them to
   * SIG_IGN in the child, which survives exec: so every bit 1..64 is set here.
   */
  static create(libc: Libc): PosixSpawner | Error {
    const attr = Buffer.alloc(SIZEOF_ATTR);
    const empty = Buffer.alloc(SIZEOF_SIGSET);
    const full = Buffer.alloc(SIZEOF_SIGSET).fill(0xff, 0, 8);
    const steps: [string, () => number][] = [
      ['posix_spawnattr_init', () => libc.attrInit(attr)],
      ['posix_spawnattr_setsigmask', () => libc.attrSetSigMask(attr, empty)],
      ['posix_spawnattr_setsigdefault', () => libc.attrSetSigDefault(attr, full)],
      ['posix_spawnattr_setflags', () => libc.attrSetFlags(attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)],
    ];
    for (const [name, step] of steps) {
      const rc = step();
      if (rc !== 0) return new Error(`${name} failed: ${strerror(rc)}`);
    }
    return new PosixSpawner(libc, attr);
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

    // Per call: the pool thread reads these while the next spawn is being prepared.
    const actions = this.spareActions.pop() ?? Buffer.alloc(SIZEOF_ACTIONS);
    const initRc = libc.actionsInit(actions);
    if (initRc !== 0) {
      this.spareActions.push(actions);
      for (const fd of [stderrRead, stderrWrite]) if (fd >= 0) libc.close(fd);
      onStarted({ code: 'spawn_failed', message: `cannot execute ${req.program}: posix_spawn_file_actions_init failed: ${strerror(initRc)}` });
      return;
    }
    // An action glibc refuses (EBADF for fd -1) is simply not added: the
    // handler would then run with superd's own fd 0 and 1. So every one counts.
    const problem = fileActions(libc, actions, req, stderrWrite);
    const pid = new Int32Array(1);

    const finish = (rc: number, why: string): boolean => {
      libc.actionsDestroy(actions);
      if (this.spareActions.length < SPARE_ACTIONS) this.spareActions.push(actions);
      if (stderrWrite >= 0) libc.close(stderrWrite);
      if (rc === 0) return true;
      if (stderrRead >= 0) libc.close(stderrRead);
      onStarted({ code: 'spawn_failed', message: `cannot execute ${req.program}: ${why}` });
      return false;
    };
    if (problem !== null) {
      finish(-1, problem);
      return;
    }
    this.inFlight += 1;
    const done = (err: unknown, rc: number): void => {
      this.inFlight -= 1;
      if (err !== null && err !== undefined) rc = -1;
      if (!finish(rc, rc > 0 ? strerror(rc) : String(err))) return;
      const child = pid[0] ?? 0;
      const stderr = stderrRead >= 0 ? stderrRead : null;
      // Started before watched: its exit is reported after its start, even
      // when it has exited already.
      onStarted({ pid: child, stderr });
      this.reaper.watch(child, onExit);
    };
    try {
      libc.posixSpawnAsync(pid, req.program, actions, this.attr, [...req.argv, null], [...req.env, null], done);
    } catch (err) {
      // koffi refuses a call when its async queue is full; the spawner's limit should prevent it.
      this.inFlight -= 1;
      finish(-1, (err as Error).message);
    }
  }
}

/**
 * The connection on fd 0 and 1, fd 2 as `stderr` says, nothing else open, and
 * `/` as the working directory. Null when every action was added, else which
 * one glibc refused and why.
 */
function fileActions(libc: Libc, actions: Buffer, req: SpawnRequest, stderrWrite: number): string | null {
  // Checked here too, not only by the HandlerSpawner: adddup2 accepts any
  // open descriptor, and 0..2 would be superd's own standard ones.
  if (!Number.isInteger(req.fd) || req.fd < 3) return `the connection has no usable descriptor (fd ${req.fd})`;
  const steps: [string, () => number][] = [
    [`adddup2(${req.fd}, 0)`, () => libc.actionsDup2(actions, req.fd, 0)],
    [`adddup2(${req.fd}, 1)`, () => libc.actionsDup2(actions, req.fd, 1)],
  ];
  if (req.stderr === 'socket') steps.push([`adddup2(${req.fd}, 2)`, () => libc.actionsDup2(actions, req.fd, 2)]);
  else if (req.stderr === 'null') steps.push(['addopen(2, /dev/null)', () => libc.actionsOpen(actions, 2, '/dev/null', O_WRONLY, 0)]);
  else steps.push([`adddup2(${stderrWrite}, 2)`, () => libc.actionsDup2(actions, stderrWrite, 2)]);
  // Descriptors superd inherited without CLOEXEC, and those another pool
  // thread may be creating right now, must not reach handlers.
  steps.push(['addclosefrom_np(3)', () => libc.actionsCloseFrom(actions, 3)]);
  steps.push(['addchdir_np(/)', () => libc.actionsChdir(actions, '/')]);
  for (const [name, step] of steps) {
    const rc = step();
    if (rc !== 0) return `posix_spawn_file_actions_${name} failed: ${strerror(rc)}`;
  }
  return null;
}
