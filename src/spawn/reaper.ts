// Reaps the handlers superd starts with posix_spawn. On SIGCHLD it asks each of
// its own pids with waitpid(pid, WNOHANG); it never calls waitpid(-1), which
// would steal the children libuv reaps for child_process.
import type { Libc } from './libc.js';
import { WNOHANG } from './libc.js';
import { decodeWaitStatus } from './status.js';
import type { ExitStatus } from './types.js';

/** A slow sweep in case a SIGCHLD is ever missed; signals coalesce, pids do not. */
const SWEEP_MS = 5000;

export class Reaper {
  private readonly waiting = new Map<number, (status: ExitStatus) => void>();
  private readonly statusWord = new Int32Array(1);
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(private readonly libc: Libc) {
    process.on('SIGCHLD', () => this.reap());
  }

  watch(pid: number, onExit: (status: ExitStatus) => void): void {
    this.waiting.set(pid, onExit);
    if (this.sweepTimer === null) {
      this.sweepTimer = setInterval(() => this.reap(), SWEEP_MS);
      this.sweepTimer.unref();
    }
  }

  reap(): void {
    for (const [pid, onExit] of this.waiting) {
      const r = this.libc.waitpid(pid, this.statusWord, WNOHANG);
      if (r === 0) continue;
      this.waiting.delete(pid);
      // -1 (ECHILD) means someone else reaped it; report it as gone rather than wait forever.
      onExit(r === pid ? decodeWaitStatus(this.statusWord[0] ?? 0) : { code: null, signal: null });
    }
    if (this.waiting.size === 0 && this.sweepTimer !== null) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = null;
    }
  }
}
