// What every handler gets whatever superd was started with, as systemd gives
// its services: umask 022 (superd's own, see HandlerSpawner.create) and a soft
// RLIMIT_NOFILE of min(1024, hard), while superd keeps its own high.
import { readFileSync } from 'node:fs';
import type { Sys } from '../sys/load.js';
import { readRlimit, SIZEOF_RLIMIT, writeRlimit } from '../sys/process.js';

export const HANDLER_UMASK = 0o022;
export const HANDLER_NOFILE = 1024;

const CAP_SYS_RESOURCE = 24;

/** Whether superd has this capability in its effective set (/proc/self/status). */
function hasCapability(bit: number): boolean {
  try {
    const hex = /^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return hex !== undefined && ((BigInt(`0x${hex}`) >> BigInt(bit)) & 1n) === 1n;
  } catch {
    return false;
  }
}

/**
 * A handler's soft RLIMIT_NOFILE: min(1024, hard), while superd keeps its own
 * high (Node raised it to the hard limit). posix_spawn has no rlimit action
 * and limits are per process, so it is set with prlimit(2) on the new pid as
 * soon as the spawn reports back. The handler has exec'd by then and may run
 * its first instructions with superd's limit; an extra exec per handler (a
 * prlimit(1) or /bin/sh trampoline) would set it before, but costs about as
 * much as starting the handler itself, and makes argv[0] the absolute path
 * (bench/README.md, system calls per connection, has the figures).
 *
 * A handler that set its own limit meanwhile keeps it: Go, Node and the JVM
 * raise theirs to the hard limit at start. So superd's own soft limit is one
 * below the hard one, and only a handler still at that value is lowered.
 *
 * A handler that already runs as another user (setpriv switched it, or a
 * setuid program) can be changed only with CAP_SYS_RESOURCE, which root has
 * unless a container drops it; without, it keeps superd's limit.
 */
export class HandlerLimits {
  private constructor(
    private readonly libc: Sys,
    /** The soft limit a handler inherits from superd. */
    private readonly inherited: number,
    readonly target: number,
    /** Whether handlers already running as another user can be changed too (CAP_SYS_RESOURCE, or superd not root). */
    readonly reachesOthers: boolean,
  ) {}

  /** For the `started` line. */
  describe(): string {
    return this.reachesOthers ? `${this.target}` : `${this.target} (not for other users: no CAP_SYS_RESOURCE)`;
  }

  /** Null when handlers inherit a low enough limit as it is, or limits cannot be read. */
  static create(libc: Sys | null): HandlerLimits | null {
    const own = libc?.nofile(0) ?? null;
    if (libc === null || own === null) return null;
    const target = Math.min(HANDLER_NOFILE, own.hard);
    if (own.soft <= target) return null;
    let inherited = own.soft;
    if (own.soft === own.hard && own.hard - 1 > target && libc.nofile(0, { soft: own.hard - 1, hard: own.hard }) !== null) inherited = own.hard - 1;
    // Only root switches users; without the capability it cannot reach them once switched.
    const othersToo = process.getuid?.() !== 0 || hasCapability(CAP_SYS_RESOURCE);
    return new HandlerLimits(libc, inherited, target, othersToo);
  }

  /** struct rlimit {target, superd's hard}, the same for every handler; and room for what it had. */
  private readonly wanted = Buffer.alloc(SIZEOF_RLIMIT);
  private readonly had = Buffer.alloc(SIZEOF_RLIMIT);
  private hard = 0;

  /**
   * Best effort, one system call: a setuid program (EPERM) or one already
   * gone (ESRCH) keeps what it has. The limit is set and what the handler had
   * comes back in the same call; in the rare case it was not what superd
   * gave it (it set its own already), that is put back.
   */
  apply(pid: number): void {
    if (this.hard === 0) {
      const own = this.libc.nofile(0);
      if (own === null) return;
      this.hard = own.hard;
      writeRlimit(this.wanted, { soft: Math.min(this.target, own.hard), hard: own.hard });
    }
    if (this.libc.prlimitNofile(pid, this.wanted, this.had) !== 0) return;
    const had = readRlimit(this.had);
    if (had.soft !== this.inherited || had.hard !== this.hard) this.libc.prlimitNofile(pid, this.had, null);
  }
}
