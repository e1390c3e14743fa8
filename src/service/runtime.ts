// One service while it runs: its listener, the connections it holds, the
// handlers it started. The daemon owns the set of runtimes and swaps them on
// reload; a runtime only knows its own definition.
import type { ServiceDefinition } from '../config/types.js';
import { describeAddress } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Connection } from '../listen/connection.js';
import { listenTcp, type Listener } from '../listen/tcp.js';
import { admit } from '../policy/admission.js';
import { baseEnvironment, tcpBase, tcpEnvironment } from '../spawn/env.js';
import { readStderrLines } from '../spawn/stderr.js';
import { isSpawnError, type ExitStatus, type Spawner } from '../spawn/types.js';
import type { Readable } from 'node:stream';

export const BIND_RETRY_SECONDS = 30;
/** After `timeout` or the shutdown grace, SIGTERM; this long after that, SIGKILL (SPEC §2, §5). */
export const KILL_AFTER_MS = 5000;

export interface RuntimeContext {
  spawner: Spawner;
  logger: Logger;
  /** superd's own environment, for PATH and pass_env. */
  environment: NodeJS.ProcessEnv;
}

export interface ServiceStats {
  accepted: number;
  failed: number;
  refused: Record<string, number>;
}

interface RunningHandler {
  startedAt: number;
  killTimer: NodeJS.Timeout | null;
}


export class ServiceRuntime {
  private baseEnv: string[];
  private listener: Listener | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retired = false;
  private readonly running = new Map<number, RunningHandler>();
  /** Handlers being spawned: they hold a max_children slot, and their connection stays open. */
  private starting = 0;
  /** Set once shutdown has signalled the handlers: one that starts later gets the same. */
  private endSignal: NodeJS.Signals | null = null;
  private readonly queue: Connection[] = [];
  readonly stats: ServiceStats = { accepted: 0, failed: 0, refused: {} };
  /** Called once the runtime has no handlers and no queued connections after retire(). */
  onDrained: (() => void) | null = null;

  constructor(
    private def: ServiceDefinition,
    private readonly ctx: RuntimeContext,
  ) {
    this.baseEnv = tcpBase(baseEnvironment(def, ctx.environment));
  }

  get definition(): ServiceDefinition {
    return this.def;
  }
  /** Running handlers, and those being started. */
  get runningCount(): number {
    return this.running.size + this.starting;
  }
  get queuedCount(): number {
    return this.queue.length;
  }
  get listening(): string | null {
    return this.listener?.address ?? null;
  }

  /** New settings for new connections; the socket stays as it is. */
  update(def: ServiceDefinition): void {
    this.def = def;
    this.baseEnv = tcpBase(baseEnvironment(def, this.ctx.environment));
  }

  /**
   * Binds now, or logs and tries again every 30 s until it binds or is
   * retired. `quiet` skips the bind_failed line (a first try that is expected
   * to fail and will be repeated at once).
   */
  async listen(onBound?: () => void, quiet = false): Promise<boolean> {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const result = await listenTcp(this.def, (socket) => this.accept(socket));
    if (this.retired) {
      if ('close' in result) result.close();
      return false;
    }
    if ('close' in result) {
      this.listener = result;
      const { logger } = this.ctx;
      const fields = { service: this.def.name, address: `${result.address}/${this.def.protocol}` };
      if (result.note !== null) logger.log('warn', 'listening', { ...fields, message: result.note });
      else logger.log('info', 'listening', fields);
      onBound?.();
      return true;
    }
    if (!quiet) {
      this.ctx.logger.log('error', 'bind_failed', {
        service: this.def.name,
        address: describeAddress(this.def),
        error: result.message,
        retry_in: BIND_RETRY_SECONDS,
      });
    }
    this.retryTimer = setTimeout(() => void this.listen(onBound), BIND_RETRY_SECONDS * 1000);
    return false;
  }

  /** Stops listening; running handlers (and queued connections) finish undisturbed. */
  retire(): void {
    this.retired = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.listener?.close();
    this.listener = null;
    this.checkDrained();
  }

  /** Shutdown: connections that never got a handler are closed. */
  dropQueue(): void {
    for (const conn of this.queue.splice(0)) conn.close();
    this.checkDrained();
  }

  /** Signals every running handler's process group. */
  signalAll(signal: NodeJS.Signals): void {
    this.endSignal = signal;
    for (const pid of this.running.keys()) killGroup(pid, signal);
  }

  private accept(conn: Connection): void {
    if (conn.remoteAddress === '') {
      conn.close(); // reset before we saw it
      return;
    }
    const decision = admit({ running: this.runningCount, queued: this.queue.length }, this.def);
    if (decision === 'start') return this.start(conn);
    if (decision === 'queue') {
      this.queue.push(conn);
      this.ctx.logger.log('info', 'queued', { service: this.def.name, remote: conn.remoteAddress, remote_port: conn.remotePort });
      return;
    }
    this.refuse(conn, 'queue_full');
  }

  private refuse(conn: Connection, reason: string): void {
    conn.close();
    this.stats.refused[reason] = (this.stats.refused[reason] ?? 0) + 1;
    this.ctx.logger.log('warn', 'refused', {
      service: this.def.name,
      remote: conn.remoteAddress,
      remote_port: conn.remotePort,
      reason,
    });
  }

  private start(conn: Connection): void {
    const { def, ctx } = this;
    if (def.handler.kind !== 'server') {
      conn.close();
      return;
    }
    const env = tcpEnvironment(this.baseEnv, conn);
    const startedAt = performance.now();
    let pid = 0;
    this.starting += 1;
    ctx.spawner.spawn(
      {
        program: def.handler.program,
        argv: def.handler.argv,
        env,
        fd: conn.fd,
        stderr: def.stderr,
        credentials: def.credentials,
      },
      (result) => {
        this.starting -= 1;
        // The handler has its own copy now (or there is none): superd keeps nothing.
        conn.close();
        if (isSpawnError(result)) {
          this.stats.failed += 1;
          ctx.logger.log('error', 'spawn_failed', {
            service: def.name,
            remote: conn.remoteAddress,
            remote_port: conn.remotePort,
            error: result.message,
          });
          this.startQueued();
          this.checkDrained();
          return;
        }
        pid = result.pid;
        this.started(pid, startedAt, conn, result.stderr);
      },
      (status) => this.exited(pid, status),
    );
  }

  private started(pid: number, startedAt: number, conn: Connection, stderr: Readable | number | null): void {
    const { def, ctx } = this;
    this.stats.accepted += 1;
    const killTimer = def.timeout === null ? null : this.scheduleTimeout(pid, def.timeout);
    this.running.set(pid, { startedAt, killTimer });
    ctx.logger.log('info', 'accepted', { service: def.name, remote: conn.remoteAddress, remote_port: conn.remotePort, pid });
    if (stderr !== null) {
      const service = def.name;
      readStderrLines(stderr, (line) => ctx.logger.log('info', 'stderr', { service, pid, message: line }));
    }
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
    this.ctx.logger.log('info', 'exited', {
      service: this.def.name,
      pid,
      code: status.code,
      signal: status.signal,
      duration_ms: Math.round(performance.now() - entry.startedAt),
    });
    this.startQueued();
    this.checkDrained();
  }

  private startQueued(): void {
    while (this.queue.length > 0 && this.runningCount < this.def.maxChildren) {
      const next = this.queue.shift();
      if (next !== undefined) this.start(next);
    }
  }

  private checkDrained(): void {
    if (this.retired && this.runningCount === 0 && this.queue.length === 0) this.onDrained?.();
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone: nothing to do.
  }
}
