// Handlers an upgrade passed on whose service the new image no longer runs
// (removed from the services dir, or retired by a reload before the upgrade):
// still superd's children, so still reaped, their stderr still logged and
// their `exited` line written, and ended with the others at shutdown
// (service/set.ts counts them). They hold no service's slot.
import type { Logger } from '../log/types.js';
import { killGroup } from '../reap/leftovers.js';
import type { Orphans } from './passed.js';
import type { Spawner } from '../spawn/types.js';
import { logHandlerStderr } from '../stderr/read.js';
import type { PassedHandler } from './state.js';

export class OrphanHandlers implements Orphans {
  private readonly running = new Set<number>();

  constructor(
    private readonly spawner: Spawner,
    private readonly logger: Logger,
  ) {}

  get count(): number {
    return this.running.size;
  }

  adopt(h: PassedHandler): void {
    const { pid, service } = h;
    const startedAt = performance.now() - h.ranMs;
    this.running.add(pid);
    const stderr = h.stderr === null ? null : logHandlerStderr(h.stderr, this.logger, { service, pid });
    // Its `timeout` goes on: SIGTERM when it runs out (a SIGKILL follows at shutdown, if it comes to that).
    const timer = h.timeoutInMs === null ? null : setTimeout(() => killGroup(pid, 'SIGTERM'), h.timeoutInMs);
    const exited = (status: { code: number | null; signal: string | null }): void => {
      this.running.delete(pid);
      if (timer !== null) clearTimeout(timer);
      stderr?.handlerExited();
      this.logger.log('info', 'exited', { service, pid, code: status.code, signal: status.signal, duration_ms: Math.round(performance.now() - startedAt) });
    };
    if (this.spawner.adopt === undefined) exited({ code: null, signal: null });
    else this.spawner.adopt(pid, exited);
  }

  signalAll(signal: NodeJS.Signals): void {
    for (const pid of this.running) killGroup(pid, signal);
  }
}
