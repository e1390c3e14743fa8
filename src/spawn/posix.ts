// Starts handlers with glibc posix_spawn (clone(CLONE_VM|CLONE_VFORK) + exec):
// the daemon's address space is never copied and the event loop is held only
// until the child has exec'd. libuv's spawn fork()s the whole Node process
// instead, which costs 4–10× more daemon CPU per connection (bench/README.md).
import { Socket } from 'node:net';
import { strerror } from './strerror.js';
import {
  O_CLOEXEC,
  O_NONBLOCK,
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
import type { SuperdError } from '../errors.js';
import type { ExitStatus, SpawnedHandler, Spawner, SpawnRequest } from './types.js';

export class PosixSpawner implements Spawner {
  readonly name = 'posix_spawn';
  private readonly attr = Buffer.alloc(SIZEOF_ATTR);
  private readonly actions = Buffer.alloc(SIZEOF_ACTIONS);
  private readonly pid = [0];
  private readonly pipeFds = new Int32Array(2);
  private readonly reaper: Reaper;

  constructor(private readonly libc: Libc) {
    this.reaper = new Reaper(libc);
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

  spawn(req: SpawnRequest, onExit: (status: ExitStatus) => void): SpawnedHandler | SuperdError {
    const { libc, actions } = this;
    // O_NONBLOCK lives in the file description the handler shares with us;
    // programs like cat expect blocking stdio.
    const flags = libc.getFlags(req.fd);
    if (flags >= 0 && (flags & O_NONBLOCK) !== 0) libc.setFlags(req.fd, flags & ~O_NONBLOCK);

    let stderrRead = -1;
    let stderrWrite = -1;
    if (req.stderr === 'log') {
      if (libc.pipe2(this.pipeFds, O_CLOEXEC) !== 0) {
        const errno = libc.errno();
        return { code: 'spawn_failed', message: `cannot create a pipe for stderr: ${strerror(errno)}` };
      }
      stderrRead = this.pipeFds[0] ?? -1;
      stderrWrite = this.pipeFds[1] ?? -1;
    }

    libc.actionsInit(actions);
    libc.actionsDup2(actions, req.fd, 0);
    libc.actionsDup2(actions, req.fd, 1);
    if (req.stderr === 'socket') libc.actionsDup2(actions, req.fd, 2);
    else if (req.stderr === 'null') libc.actionsOpen(actions, 2, '/dev/null', O_WRONLY, 0);
    else libc.actionsDup2(actions, stderrWrite, 2);
    // Descriptors superd inherited without CLOEXEC must not reach handlers.
    libc.actionsCloseFrom(actions, 3);
    libc.actionsChdir(actions, '/');
    const rc = libc.posixSpawn(this.pid, req.program, actions, this.attr, [...req.argv, null], [...req.env, null]);
    libc.actionsDestroy(actions);

    if (stderrWrite >= 0) libc.close(stderrWrite);
    if (rc !== 0) {
      if (stderrRead >= 0) libc.close(stderrRead);
      return { code: 'spawn_failed', message: `cannot execute ${req.program}: ${strerror(rc)}` };
    }
    const pid = this.pid[0] ?? 0;
    this.reaper.watch(pid, onExit);
    const stderr = stderrRead >= 0 ? new Socket({ fd: stderrRead, readable: true, writable: false }) : null;
    return { pid, stderr };
  }
}
