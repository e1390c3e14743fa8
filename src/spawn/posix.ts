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
import { Reaper } from './reaper.js';
import type { ExitStatus, SpawnResult, Spawner, SpawnRequest } from './types.js';

/** Spare file-action buffers kept for reuse; more in flight are simply allocated. */
const SPARE_ACTIONS = 16;

export class PosixSpawner implements Spawner {
  readonly name = 'posix_spawn';
  /** Read-only once built, so every concurrent spawn shares it. */
  private readonly attr = Buffer.alloc(SIZEOF_ATTR);
  private readonly pipeFds = new Int32Array(2);
  private readonly spareActions: Buffer[] = [];
  private inFlight = 0;
  private readonly reaper: Reaper;

  constructor(private readonly libc: Libc) {
    this.reaper = new Reaper(libc, () => this.inFlight);
    // The same for every handler: a session (and so a process group) of its
    // own, no blocked signals, and every signal back to its default action —
    // Node ignores SIGPIPE, and a handler must not inherit that.
    // A Linux sigset_t holds signal N in bit N-1. glibc's sigfillset leaves out
    // its two internal signals (32, 33), and posix_spawn then sets them to
    // SIG_IGN in the child, which survives exec: so every bit 1..64 is set here.
    const empty = Buffer.alloc(SIZEOF_SIGSET);
    const full = Buffer.alloc(SIZEOF_SIGSET).fill(0xff, 0, 8);
    libc.attrInit(this.attr);
    libc.attrSetSigMask(this.attr, empty);
    libc.attrSetSigDefault(this.attr, full);
    libc.attrSetFlags(this.attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
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
    libc.actionsInit(actions);
    libc.actionsDup2(actions, req.fd, 0);
    libc.actionsDup2(actions, req.fd, 1);
    if (req.stderr === 'socket') libc.actionsDup2(actions, req.fd, 2);
    else if (req.stderr === 'null') libc.actionsOpen(actions, 2, '/dev/null', O_WRONLY, 0);
    else libc.actionsDup2(actions, stderrWrite, 2);
    // Descriptors superd inherited without CLOEXEC, and those another pool
    // thread may be creating right now, must not reach handlers.
    libc.actionsCloseFrom(actions, 3);
    libc.actionsChdir(actions, '/');
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
