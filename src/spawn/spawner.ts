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
// (koffi refuses calls past its own limit of 256).
import type { Credentials } from '../config/types.js';
import { ExecutableCheck } from './executable.js';
import { loadLibc } from './libc.js';
import { NodeSpawner } from './node.js';
import { PosixSpawner } from './posix.js';
import { findSetpriv, switchesUser, throughSetpriv } from './setpriv.js';
import type { ExitStatus, SpawnResult, Spawner, SpawnRequest } from './types.js';

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
  private readonly general = new NodeSpawner();
  private readonly waiting: Waiting[] = [];
  private readonly executable = new ExecutableCheck();
  private inFlight = 0;

  private constructor(
    private readonly fast: PosixSpawner | null,
    private readonly setpriv: string | null,
    private readonly self: { uid: number; gid: number },
    fallbackReason: string | null,
  ) {
    this.name = fast?.name ?? this.general.name;
    this.userSwitch = fast !== null && setpriv !== null ? `setpriv ${setpriv}` : this.general.name;
    this.fallbackReason = fallbackReason;
  }

  static async create(choice: SpawnerChoice): Promise<HandlerSpawner> {
    const libc = choice.usePosixSpawn ? loadLibc() : new Error('disabled by --spawner node');
    if (libc instanceof Error) return new HandlerSpawner(null, null, choice.self, libc.message);
    // Only root can switch users at all; a non-root superd never needs setpriv.
    const setpriv = choice.self.uid === 0 ? await findSetpriv() : null;
    const reason = setpriv instanceof Error ? `no trusted setpriv for user switches: ${setpriv.message}` : null;
    return new HandlerSpawner(new PosixSpawner(libc), typeof setpriv === 'string' ? setpriv : null, choice.self, reason);
  }

  spawn(req: SpawnRequest, onStarted: (result: SpawnResult) => void, onExit: (status: ExitStatus) => void): void {
    const { credentials } = req;
    if (!switchesUser(credentials, this.self)) {
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
    else this.queue({ ...w, req: throughSetpriv(this.setpriv, w.req, credentials) });
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
