// Which mechanism starts a handler. posix_spawn is the fast path; requests that
// switch user go through child_process, which can set uid/gid in the child.
import type { SuperdError } from '../errors.js';
import { loadLibc } from './libc.js';
import { NodeSpawner } from './node.js';
import { PosixSpawner } from './posix.js';
import type { ExitStatus, SpawnedHandler, Spawner, SpawnRequest } from './types.js';

export class HandlerSpawner implements Spawner {
  readonly name: string;
  private readonly fast: Spawner | null;
  private readonly general = new NodeSpawner();

  /** `reason` is set when the fast path is unavailable and why. */
  readonly fallbackReason: string | null;

  constructor(options: { usePosixSpawn: boolean }) {
    const libc = options.usePosixSpawn ? loadLibc() : new Error('disabled by --spawner node');
    if (libc instanceof Error) {
      this.fast = null;
      this.fallbackReason = libc.message;
    } else {
      this.fast = new PosixSpawner(libc);
      this.fallbackReason = null;
    }
    this.name = this.fast?.name ?? this.general.name;
  }

  spawn(req: SpawnRequest, onExit: (status: ExitStatus) => void): SpawnedHandler | SuperdError {
    const via = req.credentials === null && this.fast !== null ? this.fast : this.general;
    return via.spawn(req, onExit);
  }
}
