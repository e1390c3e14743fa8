// Running out of file descriptors (EMFILE, ENFILE) is an episode, not a
// stream of errors: it is logged once when it begins (fd_exhausted) and once
// when descriptors are back (fd_recovered, with what it cost), however many
// connections failed in between. Nothing needs to back off here: libuv drains
// the pending connections it cannot accept (closing them) instead of
// retrying, and a spawn that fails closes its connection, so superd never
// spins; it recovers by itself as handlers exit and free their descriptors.
import type { Logger } from '../log.js';

/** libuv's negative errno values: too many open files, in the process or the system. */
export const UV_EMFILE = -24;
export const UV_ENFILE = -23;

/** Descriptors are back once a spawn succeeds this long after the last failure: at the edge they come and go. */
export const RECOVERED_AFTER_MS = 2000;

interface Episode {
  startedAt: number;
  lastHitAt: number;
  /** The last handler started during the episode. */
  lastOkAt: number;
  acceptsLost: number;
  spawnsFailed: number;
}

export class FdPressure {
  private episode: Episode | null = null;
  private settling: NodeJS.Timeout | null = null;

  constructor(private readonly logger: Logger) {}

  get exhausted(): boolean {
    return this.episode !== null;
  }

  /** A connection could not be accepted, or its handler started, for want of descriptors. */
  hit(what: 'accept' | 'spawn', service: string, error: string): void {
    if (this.episode === null) {
      this.episode = { startedAt: performance.now(), lastHitAt: 0, lastOkAt: 0, acceptsLost: 0, spawnsFailed: 0 };
      this.logger.log('error', 'fd_exhausted', {
        service,
        error,
        message: 'out of file descriptors: connections are closed until handlers exit and free some (raise LimitNOFILE / ulimit -n)',
      });
    }
    this.episode.lastHitAt = performance.now();
    if (what === 'accept') this.episode.acceptsLost += 1;
    else this.episode.spawnsFailed += 1;
  }

  /** A handler started: descriptors are back, once no failure has followed for RECOVERED_AFTER_MS. */
  ok(): void {
    const episode = this.episode;
    if (episode === null) return;
    episode.lastOkAt = performance.now();
    this.settle();
  }

  private settle(): void {
    const episode = this.episode;
    if (episode === null || this.settling !== null || episode.lastOkAt < episode.lastHitAt) return;
    const wait = episode.lastHitAt + RECOVERED_AFTER_MS - performance.now();
    if (wait <= 0) return this.recover(episode);
    this.settling = setTimeout(() => {
      this.settling = null;
      this.settle();
    }, wait);
    this.settling.unref();
  }

  private recover(episode: Episode): void {
    this.episode = null;
    this.logger.log('warn', 'fd_recovered', {
      accepts_lost: episode.acceptsLost,
      spawns_failed: episode.spawnsFailed,
      duration_ms: Math.round(performance.now() - episode.startedAt),
    });
  }
}

/** Whether a failure is for want of descriptors: an errno value (either sign) or a message naming it. */
export function isFdExhaustion(error: number | string): boolean {
  if (typeof error === 'number') return error === UV_EMFILE || error === UV_ENFILE || error === -UV_EMFILE || error === -UV_ENFILE;
  return /\bE[MN]FILE\b/.test(error);
}
