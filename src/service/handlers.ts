// The handler processes of one service: one started for a connection or a
// wait socket, ended when its `timeout` runs out, and the bookkeeping when it
// exits: the `exited` line, what it left running in its process group
// followed until empty (leftovers.ts), its stderr pipe closed if something it
// left behind holds it. What comes next (a queued connection, the wait
// socket watched again) is the runtime's: it is told through `gone`.
import type { ServiceDefinition } from '../config/types.js';
import type { Connection, WaitSocket } from '../listen/connection.js';
import { logHandlerStderr, type StderrReader } from '../stderr/read.js';
import { isSpawnError, type ExitStatus, type SpawnedHandler } from '../spawn/types.js';
import { isFdExhaustion } from './fdpressure.js';
import { killGroup, LeftoverGroups } from '../reap/leftovers.js';
import { PipeSweeper } from '../stderr/sweeper.js';
import { remoteFields, sourceOf } from './remote.js';
import { lastError, type RuntimeContext, type ServiceStats } from './types.js';
import type { PassedHandler } from '../upgrade/state.js';

/** After `timeout` or the shutdown grace, SIGTERM; this long after that, SIGKILL (SPEC §2, §5). */
export const KILL_AFTER_MS = 5000;
/** How long a handler's stderr pipe is read after the handler exited (a leftover may hold it). */
export const LEFTOVER_STDERR_MS = 5000;

/** What a started handler is serving, for its log line and environment. */
export type Served = { conn: Connection; waitSocket: null } | { conn: null; waitSocket: WaitSocket };

/** A handler that is gone, or could not be started: what it held is free again. */
export interface HandlerGone {
  /** The remote address its connection was admitted for; null for a wait handler. */
  source: string | null;
  /** A wait handler's socket, to be watched again. */
  waitSocket: WaitSocket | null;
  /** How long it ran; 0 when it could not be started. */
  ranMs: number;
}

interface RunningHandler {
  startedAt: number;
  /** When `timeout` ends it (performance.now() ms), or null. */
  deadline: number | null;
  killTimer: NodeJS.Timeout | null;
  waitSocket: WaitSocket | null;
  source: string | null;
  /** Its stderr pipe being read (`stderr = log`): what it left behind may hold the pipe open. */
  stderr: StderrReader | null;
}

export class HandlerProcesses {
  private readonly running = new Map<number, RunningHandler>();
  /** Handlers being spawned: they hold a max_children slot, and their connection stays open. */
  private starting = 0;
  /** Set once shutdown has signalled the handlers: one that starts later gets the same. */
  private endSignal: NodeJS.Signals | null = null;
  /** The stderr pipes of exited handlers, closed if still open LEFTOVER_STDERR_MS later. */
  private readonly pipes = new PipeSweeper(LEFTOVER_STDERR_MS);
  /** What exited handlers left running in their process groups. */
  private readonly leftovers: LeftoverGroups;

  constructor(
    /** The service's definition as it is now: a reload may update it while handlers run. */
    private readonly definition: () => ServiceDefinition,
    private readonly ctx: RuntimeContext,
    private readonly stats: ServiceStats,
    private readonly gone: (handler: HandlerGone) => void,
    /** The last process group a handler left behind is empty. */
    leftoversGone: () => void,
  ) {
    this.leftovers = new LeftoverGroups(KILL_AFTER_MS, leftoversGone);
  }

  /** Running handlers, and those being started. */
  get count(): number {
    return this.running.size + this.starting;
  }

  /** Handlers being started: an upgrade waits until none is (their pids are not known yet). */
  get startingCount(): number {
    return this.starting;
  }

  /** What an upgrade passes on of each running handler (src/upgrade/state.ts). */
  list(service: string, retired: boolean): PassedHandler[] {
    const now = performance.now();
    return [...this.running].map(([pid, h]) => ({
      service,
      pid,
      ranMs: now - h.startedAt,
      source: h.source,
      timeoutInMs: h.deadline === null ? null : Math.max(0, h.deadline - now),
      stderr: h.stderr?.descriptor?.() ?? null,
      wait: h.waitSocket !== null,
      retired,
    }));
  }

  /**
   * A handler the old image started (an upgrade in place): reaped, logged,
   * timed out and counted from now on as if started here. A wait handler's
   * socket is the runtime's to watch again (runtime.ts).
   */
  takeOver(h: PassedHandler): void {
    const now = performance.now();
    const { pid } = h;
    const killTimer = h.timeoutInMs === null ? null : this.scheduleTimeout(pid, h.timeoutInMs / 1000);
    const deadline = h.timeoutInMs === null ? null : now + h.timeoutInMs;
    const entry: RunningHandler = { startedAt: now - h.ranMs, deadline, killTimer, waitSocket: null, source: h.source, stderr: null };
    this.running.set(pid, entry);
    if (h.stderr !== null) entry.stderr = logHandlerStderr(h.stderr, this.ctx.logger, { service: h.service, pid });
    const exited = (status: ExitStatus): void => this.exited(pid, status);
    if (this.ctx.spawner.adopt === undefined) exited({ code: null, signal: null });
    else this.ctx.spawner.adopt(pid, exited);
  }

  /** Process groups whose handler exited but whose other members run on. */
  get leftoverCount(): number {
    return this.leftovers.size;
  }

  /** Signals every running handler's process group, and what exited ones left behind. */
  signalAll(signal: NodeJS.Signals): void {
    this.endSignal = signal;
    for (const pid of this.running.keys()) killGroup(pid, signal);
    this.leftovers.signalAll(signal);
  }

  /** Starts the service's server on fd (a connection, or the wait socket itself). */
  spawn(served: Served, fd: number, env: string[]): void {
    const def = this.definition();
    const { ctx } = this;
    if (def.handler.kind !== 'server') return;
    const startedAt = performance.now();
    let pid = 0;
    this.starting += 1;
    ctx.spawner.spawn(
      { program: def.handler.program, argv: def.handler.argv, env, fd, stderr: def.stderr, credentials: def.credentials, settings: def.settings },
      (result) => {
        this.starting -= 1;
        // The handler has its own copy now (or there is none): superd keeps no connection.
        served.conn?.close();
        if (isSpawnError(result)) {
          this.stats.failed += 1;
          this.stats.lastError = lastError('spawn', result.message);
          // Out of descriptors: one episode for the daemon, not one line per connection.
          if (isFdExhaustion(result.message)) ctx.fdPressure.hit('spawn', def.name, result.message);
          else ctx.logger.log('error', 'spawn_failed', { service: def.name, ...remoteFields(served.conn), error: result.message });
          const source = served.conn === null ? null : sourceOf(served.conn);
          this.gone({ source, waitSocket: served.waitSocket, ranMs: 0 });
          return;
        }
        pid = result.pid;
        ctx.fdPressure.ok();
        this.started(result, startedAt, served);
      },
      (status) => this.exited(pid, status),
    );
  }

  private started({ pid, stderr }: SpawnedHandler, startedAt: number, served: Served): void {
    const def = this.definition();
    const { ctx } = this;
    this.stats.accepted += 1;
    const killTimer = def.timeout === null ? null : this.scheduleTimeout(pid, def.timeout);
    const deadline = def.timeout === null ? null : startedAt + def.timeout * 1000;
    const source = served.conn === null ? null : sourceOf(served.conn);
    const entry: RunningHandler = { startedAt, deadline, killTimer, waitSocket: served.waitSocket, source, stderr: null };
    this.running.set(pid, entry);
    ctx.logger.log('info', 'accepted', { service: def.name, ...remoteFields(served.conn), pid });
    // Read after `accepted` is logged: its stderr lines come after it in the log.
    if (stderr !== null) entry.stderr = logHandlerStderr(stderr, ctx.logger, { service: def.name, pid });
    // Shutdown signalled the others while this one was being started.
    if (this.endSignal !== null) killGroup(pid, this.endSignal);
  }

  private scheduleTimeout(pid: number, seconds: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      killGroup(pid, 'SIGTERM');
      const entry = this.running.get(pid);
      if (entry !== undefined) entry.killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_AFTER_MS);
    }, seconds * 1000);
    return timer;
  }

  private exited(pid: number, status: ExitStatus): void {
    const entry = this.running.get(pid);
    if (entry === undefined) return;
    this.running.delete(pid);
    if (entry.killTimer !== null) clearTimeout(entry.killTimer);
    // The handler's process group is its work: what it left running is still followed.
    this.leftovers.follow(pid, entry.deadline === null ? null : Math.max(0, entry.deadline - performance.now()));
    // Its stderr usually ends with it; a process it left behind holding the
    // pipe gets a little longer, then the pipe is closed: it pins nothing.
    entry.stderr?.handlerExited();
    if (entry.stderr !== null && !entry.stderr.done) this.pipes.closeLater(entry.stderr);
    const ranMs = performance.now() - entry.startedAt;
    this.ctx.logger.log('info', 'exited', {
      service: this.definition().name,
      pid,
      code: status.code,
      signal: status.signal,
      duration_ms: Math.round(ranMs),
    });
    this.gone({ source: entry.source, waitSocket: entry.waitSocket, ranMs });
  }
}
