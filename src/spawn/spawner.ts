// Which mechanism starts a handler, and how many starts may be in flight.
//
//   superd's own ids (or the service names them) → posix_spawn on a pool thread
//   another user or group, setpriv found        → posix_spawn of setpriv, which
//                                                  switches ids and execs the program
//   no koffi, or no trusted setpriv              → child_process (forks the daemon)
//
// libuv's thread pool (UV_THREADPOOL_SIZE, default 4, fixed before Node
// starts) is shared by these spawns, the --log-file writes and the reads of
// service files. A spawn holds a pool thread only until the child's exec, so
// a small pool suffices; MAX_IN_FLIGHT bounds how many are queued for it
// (koffi refuses calls past its own limit of 256). Its threads run
// SCHED_BATCH, so that waking one does not preempt the event loop (sched.ts):
// at start each is held for a moment by a read of ours to be found.
//
// Whatever starts it, a handler gets umask 022 and a soft RLIMIT_NOFILE of
// min(1024, hard), as systemd gives its services; see HandlerLimits.
import type { Credentials } from '../config/types.js';
import { ExecutableCheck } from './executable.js';
import { loadLibc } from './libc.js';
import { HANDLER_UMASK, HandlerLimits } from './limits.js';
import { NodeSpawner } from './node.js';
import { PosixSpawner } from './posix.js';
import { handlersNeedSession } from './session.js';
import { batchPoolThreads } from './sched.js';
import { findSetpriv, switchesUser, throughSetpriv } from './setpriv.js';
import { isSpawnError, type ExitStatus, type SpawnResult, type Spawner, type SpawnRequest } from './types.js';

const MAX_IN_FLIGHT = 64;

interface Waiting {
  req: SpawnRequest;
  onStarted: (result: SpawnResult) => void;
  onExit: (status: ExitStatus) => void;
}

export interface SpawnerChoice {
  /** posix_spawn unless disabled (`--spawner node`) or koffi cannot load. */
  usePosixSpawn: boolean;
  self: { uid: number; gid: number };
}

export class HandlerSpawner implements Spawner {
  readonly name: string;
  /** How handlers of another user are started: `setpriv PATH` or `child_process`. */
  readonly userSwitch: string;
  /** Set when a fast path is unavailable, and why. */
  readonly fallbackReason: string | null;
  /** What handlers get, for the `started` line: `nofile=1024 umask=022`. */
  readonly handlerLimits: string;
  private readonly general = new NodeSpawner();
  private readonly waiting: Waiting[] = [];
  private readonly executable = new ExecutableCheck();
  /** setpriv's argv for a service's argv and ids, made once: the same array every connection (posix.ts keeps its NULL-terminated copy). */
  private readonly setprivArgv = new WeakMap<readonly string[], { uid: number; gid: number; argv: string[] }>();
  private inFlight = 0;

  private constructor(
    private readonly fast: PosixSpawner | null,
    private readonly setpriv: string | null,
    private readonly self: { uid: number; gid: number },
    fallbackReason: string | null,
    private readonly limits: HandlerLimits | null,
  ) {
    this.name = fast?.name ?? this.general.name;
    this.userSwitch = fast !== null && setpriv !== null ? `setpriv ${setpriv}` : this.general.name;
    this.fallbackReason = fallbackReason;
    this.handlerLimits = `nofile=${limits?.describe() ?? 'inherited'} umask=${HANDLER_UMASK.toString(8).padStart(3, '0')}`;
  }

  static async create(choice: SpawnerChoice): Promise<HandlerSpawner> {
    // posix_spawn has no umask action, and the child copies the process's
    // umask at clone time, on whichever pool thread: so superd's own umask is
    // the handlers'. superd gives every file it creates an explicit mode.
    process.umask(HANDLER_UMASK);
    const loaded = loadLibc();
    const limits = HandlerLimits.create(loaded instanceof Error ? null : loaded);
    const fast = !choice.usePosixSpawn
      ? new Error('disabled by --spawner node')
      : loaded instanceof Error
        ? loaded
        : PosixSpawner.create(loaded, { ownSession: handlersNeedSession(), resetScheduler: await batchPoolThreads(loaded) });
    if (fast instanceof Error) return new HandlerSpawner(null, null, choice.self, fast.message, limits);
    // Only root can switch users at all; a non-root superd never needs setpriv.
    const setpriv = choice.self.uid === 0 ? await findSetpriv() : null;
    const reason = setpriv instanceof Error ? `no trusted setpriv for user switches: ${setpriv.message}` : null;
    return new HandlerSpawner(fast, typeof setpriv === 'string' ? setpriv : null, choice.self, reason, limits);
  }

  spawn(req: SpawnRequest, started: (result: SpawnResult) => void, onExit: (status: ExitStatus) => void): void {
    const unusable = unusableDescriptor(req.fd);
    if (unusable !== null) {
      started({ code: 'spawn_failed', message: `cannot execute ${req.program}: ${unusable}; not started` });
      return;
    }
    const { limits } = this;
    const { credentials } = req;
    const switched = switchesUser(credentials, this.self);
    // A switched handler superd cannot reach keeps superd's limit, as the
    // `started` line says: no prlimit that fails (or, racing setpriv, sometimes not).
    const onStarted =
      limits === null || (switched && !limits.reachesOthers)
        ? started
        : (result: SpawnResult): void => {
            if (!isSpawnError(result)) limits.apply(result.pid);
            started(result);
          };
    if (!switched) {
      if (this.fast === null) this.general.spawn(req, onStarted, onExit);
      else this.queue({ req, onStarted, onExit });
      return;
    }
    // Whatever starts it, the handler is held to its user's permissions here.
    const problem = this.executable.check(req.program, credentials.uid, credentials.gid);
    if (problem instanceof Promise) void problem.then((p) => this.switched(p, credentials, { req, onStarted, onExit }));
    else this.switched(problem, credentials, { req, onStarted, onExit });
  }

  private switched(problem: string | null, credentials: Credentials, w: Waiting): void {
    if (problem !== null) {
      w.onStarted({ code: 'spawn_failed', message: `cannot execute ${w.req.program}: ${problem}` });
      return;
    }
    if (this.fast === null || this.setpriv === null) this.general.spawn(w.req, w.onStarted, w.onExit);
    else this.queue({ ...w, req: this.setprivRequest(this.setpriv, w.req, credentials) });
  }

  private setprivRequest(setpriv: string, req: SpawnRequest, credentials: Credentials): SpawnRequest {
    const known = this.setprivArgv.get(req.argv);
    if (known !== undefined && known.uid === credentials.uid && known.gid === credentials.gid) return { ...req, program: setpriv, argv: known.argv };
    const switched = throughSetpriv(setpriv, req, credentials);
    this.setprivArgv.set(req.argv, { uid: credentials.uid, gid: credentials.gid, argv: switched.argv });
    return switched;
  }

  private queue(w: Waiting): void {
    if (this.inFlight < MAX_IN_FLIGHT) this.launch(w);
    else this.waiting.push(w);
  }

  private launch({ req, onStarted, onExit }: Waiting): void {
    this.inFlight += 1;
    this.fast?.spawn(
      req,
      (result) => {
        this.inFlight -= 1;
        const next = this.waiting.shift();
        if (next !== undefined) this.launch(next);
        onStarted(result);
      },
      onExit,
    );
  }
}

/**
 * Why fd cannot be a handler's connection, or null. A Node internal reports
 * -1 for a handle it has closed; 0..2 are superd's own standard descriptors.
 * Either would hand the handler superd's own fd 0 and 1. (A closed fd needs
 * no check here, on the path of every connection: posix_spawn's dup2 of it
 * fails, and so does the spawn, with EBADF.)
 */
function unusableDescriptor(fd: number): string | null {
  if (!Number.isInteger(fd) || fd < 0) return `the connection has no descriptor (fd ${fd})`;
  if (fd <= 2) return `fd ${fd} is one of superd's own standard descriptors, not a connection`;
  return null;
}
