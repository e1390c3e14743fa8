// Processes a handler leaves behind in its process group (a daemonizing
// handler: fork, parent exits). The leader is reaped, but its group lives
// on: it is still the handler's work, so `timeout` and shutdown must reach
// it. A group is followed until it is empty, by a probe once a second (its
// members are not superd's children: no SIGCHLD tells when they go). A
// process that calls setsid() itself leaves the group, and cannot be followed.

import { EPERM } from '../sys/constants.js';
import { loadSys } from '../sys/load.js';

/** Beyond this many groups per service the oldest is no longer followed: bounded state. */
const MAX_FOLLOWED = 4096;
const PROBE_MS = 1000;

interface Followed {
  endTimer: NodeJS.Timeout | null;
  killTimer: NodeJS.Timeout | null;
}

export class LeftoverGroups {
  private readonly groups = new Map<number, Followed>();
  private probe: NodeJS.Timeout | null = null;
  /** Set by shutdown: a group followed from now on is sent it at once. */
  private endSignal: NodeJS.Signals | null = null;

  constructor(
    private readonly killAfterMs: number,
    private readonly onEmpty: () => void,
  ) {}

  get size(): number {
    return this.groups.size;
  }

  /** The leader `pgid` was reaped: follow what is left of its group, ending it in `endInMs` (its timeout) if set. */
  follow(pgid: number, endInMs: number | null): void {
    if (!groupAlive(pgid)) return;
    if (this.groups.size >= MAX_FOLLOWED) {
      const oldest = this.groups.keys().next().value;
      if (oldest !== undefined) this.forget(oldest);
    }
    const followed: Followed = { endTimer: null, killTimer: null };
    this.groups.set(pgid, followed);
    if (endInMs !== null) followed.endTimer = setTimeout(() => this.end(pgid, 'SIGTERM'), endInMs);
    if (this.endSignal !== null) this.end(pgid, this.endSignal);
    this.probe ??= setInterval(() => this.sweep(), PROBE_MS);
  }

  signalAll(signal: NodeJS.Signals): void {
    this.endSignal = signal;
    for (const pgid of this.groups.keys()) this.end(pgid, signal);
  }

  private end(pgid: number, signal: NodeJS.Signals): void {
    const followed = this.groups.get(pgid);
    if (followed === undefined) return;
    killGroup(pgid, signal);
    if (signal === 'SIGTERM' && followed.killTimer === null) {
      followed.killTimer = setTimeout(() => {
        if (this.groups.has(pgid)) killGroup(pgid, 'SIGKILL');
      }, this.killAfterMs);
    }
  }

  private sweep(): void {
    for (const pgid of [...this.groups.keys()]) if (!groupAlive(pgid)) this.forget(pgid);
    if (this.groups.size > 0) return;
    if (this.probe !== null) clearInterval(this.probe);
    this.probe = null;
    this.onEmpty();
  }

  private forget(pgid: number): void {
    const followed = this.groups.get(pgid);
    if (followed?.endTimer) clearTimeout(followed.endTimer);
    if (followed?.killTimer) clearTimeout(followed.killTimer);
    this.groups.delete(pgid);
  }
}

const libc = loadSys();

/**
 * Has the process group any member left? (Signal 0 only checks.) Asked at
 * every handler's exit, where the answer is almost always no: libc's kill
 * says so without the exception (and its stack trace) process.kill throws.
 */
export function groupAlive(pgid: number): boolean {
  if (!(libc instanceof Error)) return libc.kill(-pgid, 0) === 0 || libc.errno() === EPERM;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    // EPERM: members exist but run as another user (a switched handler's group, superd not root).
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone: nothing to do.
  }
}
