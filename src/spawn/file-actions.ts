// posix_spawn file actions, built once per set of descriptors and shared.
//
// What a handler's descriptors become depends only on the connection's fd
// number, what its stderr is, and (stderr = log) the pipe's write end; the
// kernel hands out the lowest free numbers, so the same few sets come back
// connection after connection. Building the actions anew costs six calls
// into libc, and glibc's adddup2 and addclosefrom_np each ask the kernel for
// RLIMIT_NOFILE (sysconf(_SC_OPEN_MAX)) on every call: seven system calls per
// connection for the same bytes. posix_spawn only reads its actions, so
// spawns in flight at once may share a set; a set is destroyed only when no
// spawn is using it.
import type { StderrMode } from '../config/types.js';
import { O_WRONLY } from '../sys/constants.js';
import { strerror } from '../sys/errors.js';
import { SIZEOF_ACTIONS, type SpawnCalls } from '../sys/spawn.js';

/**
 * Sets kept; past this, the least recently used set no spawn is using goes.
 * How many distinct sets come under load, and how often fewer kept would
 * miss: bench/README.md ("File actions built once"). A set is about 500 bytes.
 */
export const KEPT_ACTIONS = 1024;

type ActionsLibc = Pick<SpawnCalls, 'actionsInit' | 'actionsDestroy' | 'actionsDup2' | 'actionsOpen' | 'actionsCloseFrom' | 'actionsChdir'>;

/** What the handler's fds 0, 1 and 2 are: the connection, and stderr as configured. */
export interface Descriptors {
  fd: number;
  stderr: StderrMode;
  /** The pipe's write end when stderr is `log`, else -1. */
  stderrWrite: number;
}

interface Entry {
  readonly key: string;
  readonly actions: Buffer;
  users: number;
}

/** Built actions, lent to a spawn until it has returned. */
export interface LentActions {
  readonly actions: Buffer;
  giveBack(): void;
}

export class FileActions {
  /** In use order: the least recently used first. */
  private readonly kept = new Map<string, Entry>();

  constructor(
    private readonly libc: ActionsLibc,
    private readonly keep = KEPT_ACTIONS,
  ) {}

  /** The actions for these descriptors, or why glibc would not build them. */
  lend(d: Descriptors): LentActions | string {
    const key = `${d.fd}/${d.stderr === 'log' ? d.stderrWrite : d.stderr}`;
    let entry = this.kept.get(key);
    if (entry !== undefined) {
      this.kept.delete(key);
      this.kept.set(key, entry);
    } else {
      const built = build(this.libc, d);
      if (typeof built === 'string') return built;
      entry = { key, actions: built, users: 0 };
      this.kept.set(key, entry);
    }
    entry.users += 1;
    this.trim();
    const lent = entry;
    let given = false;
    return {
      actions: lent.actions,
      giveBack: () => {
        if (given) return;
        given = true;
        lent.users -= 1;
        if (lent.users === 0 && this.kept.get(lent.key) !== lent) this.libc.actionsDestroy(lent.actions);
        this.trim();
      },
    };
  }

  /** How many sets are kept (for tests). */
  get size(): number {
    return this.kept.size;
  }

  /** Down to `keep` sets, oldest first, skipping those in use (they go when given back). */
  private trim(): void {
    if (this.kept.size <= this.keep) return;
    for (const entry of this.kept.values()) {
      if (this.kept.size <= this.keep) break;
      if (entry.users > 0) continue;
      this.kept.delete(entry.key);
      this.libc.actionsDestroy(entry.actions);
    }
  }
}

/**
 * The connection on fd 0 and 1, fd 2 as `stderr` says, nothing else open, and
 * `/` as the working directory. The actions, or which one glibc refused and
 * why: an action it refuses (EBADF for fd -1) would otherwise simply be
 * missing, and the handler would run with superd's own fd 0 and 1.
 */
function build(libc: ActionsLibc, d: Descriptors): Buffer | string {
  // Checked here too, not only by the HandlerSpawner: adddup2 accepts any
  // open descriptor, and 0..2 would be superd's own standard ones.
  if (!Number.isInteger(d.fd) || d.fd < 3) return `the connection has no usable descriptor (fd ${d.fd})`;
  const actions = Buffer.alloc(SIZEOF_ACTIONS);
  const initRc = libc.actionsInit(actions);
  if (initRc !== 0) return `posix_spawn_file_actions_init failed: ${strerror(initRc)}`;
  const steps: [string, () => number][] = [
    [`adddup2(${d.fd}, 0)`, () => libc.actionsDup2(actions, d.fd, 0)],
    [`adddup2(${d.fd}, 1)`, () => libc.actionsDup2(actions, d.fd, 1)],
  ];
  if (d.stderr === 'socket') steps.push([`adddup2(${d.fd}, 2)`, () => libc.actionsDup2(actions, d.fd, 2)]);
  else if (d.stderr === 'null') steps.push(['addopen(2, /dev/null)', () => libc.actionsOpen(actions, 2, '/dev/null', O_WRONLY, 0)]);
  else steps.push([`adddup2(${d.stderrWrite}, 2)`, () => libc.actionsDup2(actions, d.stderrWrite, 2)]);
  // Descriptors superd inherited without CLOEXEC, and those another pool
  // thread may be creating right now, must not reach handlers.
  steps.push(['addclosefrom_np(3)', () => libc.actionsCloseFrom(actions, 3)]);
  steps.push(['addchdir_np(/)', () => libc.actionsChdir(actions, '/')]);
  for (const [name, step] of steps) {
    const rc = step();
    if (rc !== 0) {
      libc.actionsDestroy(actions);
      return `posix_spawn_file_actions_${name} failed: ${strerror(rc)}`;
    }
  }
  return actions;
}
