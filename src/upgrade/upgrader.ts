// `superd upgrade` in the running daemon: the steps in order, each in its own
// file, and the way back from each. (1) The new image is tried as a child
// (trial.ts): if it cannot load, nothing else happens. (2) Reloads wait, new
// handlers wait (admitted connections queue), and the handlers being started
// are let finish, so that every pid is known; quiet stderr pipes come out of
// their parking. (3) The log is written out. (4) In one synchronous step the
// state is gathered (state.ts) and superd execs itself (exec.ts). Any failure
// is answered to the client (exit 1) and logged as `upgrade_failed`, and the
// old image serves on as before.
import type { Server, Socket } from 'node:net';
import { controlPassable } from '../control/server.js';
import type { Daemon } from '../daemon.js';
import type { SuperdError } from '../errors.js';
import { socketFd } from '../internals/descriptor.js';
import { inheritedSockets } from '../listen/inherited.js';
import type { Logger } from '../log/types.js';
import type { Spawner } from '../spawn/types.js';
import { reexec } from './exec.js';
import { STATE_FORMAT, type UpgradeState } from './state.js';
import { tryNewImage } from './trial.js';
import { superdVersion } from './version.js';

/** How long the handlers being started get to report their pids (a spawn takes milliseconds). */
const SPAWNS_SETTLE_MS = 5000;
const POLL_MS = 10;

export interface UpgraderParts {
  daemon: Daemon;
  logger: Logger;
  spawner: Spawner;
  /** The control socket being served, if any, and its path. */
  control: () => Server | null;
  controlPath: string;
}

export class Upgrader {
  private busy = false;

  constructor(private readonly parts: UpgraderParts) {}

  /** Resolves only when the upgrade did not happen (the old image serves on): why. */
  async run(client: Socket): Promise<SuperdError> {
    if (this.busy) return { code: 'upgrade_running', message: 'an upgrade is already under way' };
    if (this.parts.daemon.forUpgrade.stopping) return { code: 'stopping', message: 'superd is shutting down' };
    this.busy = true;
    const { daemon, logger } = this.parts;
    logger.log('info', 'upgrade', { version: superdVersion(), message: 'trying the new image' });
    const reloads = daemon.holdReloads();
    const { services } = daemon.forUpgrade;
    let held = false;
    try {
      const broken = await tryNewImage();
      if (broken !== null) return this.failed('upgrade_trial', broken);
      await reloads.idle;
      services.hold();
      held = true;
      if (!(await until(() => services.starting() === 0, SPAWNS_SETTLE_MS))) {
        return this.failed('upgrade_busy', `handlers were still being started after ${SPAWNS_SETTLE_MS / 1000} s`);
      }
      this.parts.spawner.unparkStderr?.();
      await logger.flushed?.();
      // From here to execve, synchronous: nothing starts, nothing is accepted.
      const error = reexec(this.state(client));
      return this.failed('upgrade_exec', error.message);
    } finally {
      if (held) services.release();
      reloads.done();
      this.busy = false;
    }
  }

  private failed(code: string, message: string): SuperdError {
    this.parts.logger.log('error', 'upgrade_failed', { error: message, message: 'the running superd goes on serving' });
    return { code, message: `not upgraded: ${message}` };
  }

  private state(client: Socket): UpgradeState {
    const { daemon, controlPath } = this.parts;
    const { services, startedAt, lastReload } = daemon.forUpgrade;
    const server = this.parts.control();
    const control = server === null ? null : controlPassable(server);
    const { pooledInterims, ...passed } = services.handedOver();
    return {
      format: STATE_FORMAT,
      version: superdVersion(),
      startedAt,
      lastReload,
      control: control === null ? null : { ...control, path: controlPath },
      client: socketFd(client),
      inherited: inheritedSockets.passable(pooledInterims),
      ...passed,
    };
  }
}

/** Whether done() came true before timeoutMs: looked at every POLL_MS (spawns report on the event loop). */
function until(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const look = (): void => {
      if (done()) resolve(true);
      else if (Date.now() >= deadline) resolve(false);
      else setTimeout(look, POLL_MS);
    };
    look();
  });
}
