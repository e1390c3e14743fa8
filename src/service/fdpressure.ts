// Running out of file descriptors (EMFILE, ENFILE) is an episode, not a
// stream of errors: it is logged once when it begins (fd_exhausted) and once
// when descriptors are back (fd_recovered, with what it cost), however many
// connections failed in between. Nothing needs to back off here: libuv drains
// the pending connections it cannot accept (closing them) instead of
// retrying, and a spawn that fails closes its connection, so superd never
// spins; it recovers by itself as handlers exit and free their descriptors.
//
// That an episode is seen must not depend on which call hits the limit
// first. A spawn that fails says so, and so does an accept that libuv
// reports; but an accept that fails mostly goes unreported: libuv closes a
// spare descriptor it keeps for this, accepts and closes every pending
// connection with it, and tells nobody when that emptied the queue. So
// superd also looks for itself. It knows its limit (RLIMIT_NOFILE, in
// /proc/self/limits) and what it holds (/proc/self/fd): it measures the
// distance every CHECK_MS while connections come in or an episode lasts (an
// idle superd is not woken for it), and while that distance is short, each connection it accepts (once its handler's stderr
// pipe is made, before libuv accepts the next one) is followed by one open(2)
// that says whether a descriptor is left. None left starts the episode,
// whatever took the last one.
import { closeSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import type { Logger } from '../log/types.js';

/** libuv's errno values are the kernel's negated: too many open files, in the process or the system. */
export const UV_EMFILE = -constants.errno.EMFILE;
export const UV_ENFILE = -constants.errno.ENFILE;

/** Descriptors are back once a connection is served (a handler started, a builtin answering), or there is room for one, this long after the last failure: at the edge they come and go. */
export const RECOVERED_AFTER_MS = 2000;
/** How often the distance to the limit is measured: under RECOVERED_AFTER_MS, so a table that stays full keeps its episode open. */
export const CHECK_MS = 1000;
/** At most what one accepted connection adds before its handler runs: itself and its stderr pipe's two ends. */
const FDS_PER_CONNECTION = 3;
/** Closer to the limit than this, every accepted connection is followed by a look. */
const NEAR = 64;

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
  private checking: NodeJS.Timeout | null = null;
  /** Connections accepted since the last measure: none, and no episode, stops the measuring until the next. */
  private acceptedSinceCheck = 0;
  /** Descriptors left at the last measure, less what the connections accepted since may have taken; 0 when unknown. */
  private headroom = 0;
  /** The service that accepted last: the one a full table hurts first. */
  private lastService = '';

  constructor(private readonly logger: Logger) {}

  get exhausted(): boolean {
    return this.episode !== null;
  }

  /** A connection could not be accepted, or its handler started, for want of descriptors; or none is left. */
  hit(what: 'accept' | 'spawn' | 'full', service: string, error: string): void {
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
    else if (what === 'spawn') this.episode.spawnsFailed += 1;
  }

  /**
   * A connection was accepted and handed on (its handler's pipe made, or it
   * was queued): near the limit, whether a descriptor is left for the next
   * accept. Called before libuv accepts again.
   */
  accepted(service: string): void {
    this.lastService = service;
    this.acceptedSinceCheck += 1;
    if (this.checking === null) this.startChecking();
    this.headroom -= FDS_PER_CONNECTION;
    if (this.headroom >= NEAR && this.episode === null) return;
    const none = noneLeft();
    if (none !== null) this.hit('full', service, none);
  }

  /** A handler started, a builtin took a connection, or there is room for one: descriptors are back, once no failure has followed for RECOVERED_AFTER_MS. */
  ok(): void {
    const episode = this.episode;
    if (episode === null) return;
    episode.lastOkAt = performance.now();
    this.settle();
  }

  /** Measures now, then every CHECK_MS while connections come or an episode lasts: an idle superd is not woken for it. */
  private startChecking(): void {
    this.check();
    this.acceptedSinceCheck = 0;
    this.checking = setInterval(() => {
      if (this.acceptedSinceCheck === 0 && this.episode === null && this.checking !== null) {
        clearInterval(this.checking);
        this.checking = null;
        return;
      }
      this.acceptedSinceCheck = 0;
      this.check();
    }, CHECK_MS);
    this.checking.unref();
  }

  /**
   * Measures the distance to the limit. Close to it, or in an episode, looks
   * whether a descriptor is left; room for a connection and its handler's
   * pipe ends an episode as a served connection does, so one ends even when
   * no client comes after the descriptors are back.
   */
  private check(): void {
    const room = headroom();
    this.headroom = room ?? 0;
    if (this.headroom >= NEAR && this.episode === null) return;
    const none = noneLeft();
    if (none !== null) this.hit('full', this.lastService, none);
    else if (room !== null && room >= FDS_PER_CONNECTION) this.ok();
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

/** Whether a failure's message says it was for want of descriptors. */
export function isFdExhaustion(message: string): boolean {
  return /\bE[MN]FILE\b/.test(message);
}

/** 'EMFILE' or 'ENFILE' for an errno value of either sign, else null. */
export function fdErrorName(errno: number): 'EMFILE' | 'ENFILE' | null {
  const uv = -Math.abs(errno);
  return uv === UV_EMFILE ? 'EMFILE' : uv === UV_ENFILE ? 'ENFILE' : null;
}

/** 'EMFILE' or 'ENFILE' when no descriptor can be opened now, else null. */
export function noneLeft(): 'EMFILE' | 'ENFILE' | null {
  try {
    closeSync(openSync('/', 'r'));
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EMFILE' || code === 'ENFILE' ? code : null;
  }
}

/** How many more descriptors this process may open (its soft RLIMIT_NOFILE less what it holds), or null when /proc cannot say. */
export function headroom(): number | null {
  try {
    const limit = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'latin1'))?.[1];
    if (limit === undefined) return null;
    // Linux 6.2 and later give the count as the directory's size; before, reading it costs a descriptor of its own.
    const size = statSync('/proc/self/fd').size;
    const held = size > 0 ? size : readdirSync('/proc/self/fd').length - 1;
    return Math.max(0, Number(limit) - held);
  } catch {
    return null;
  }
}
