// One service while it runs: its listener, the connections it holds, the
// handlers it started. The daemon owns the set of runtimes and swaps them on
// reload; a runtime only knows its own definition.
import type { Socket } from 'node:net';
import type { ServiceDefinition } from '../config/types.js';
import { describeAddress } from '../config/types.js';
import type { Logger } from '../log.js';
import { plainAddress } from '../listen/address.js';
import { listenTcp, type Listener } from '../listen/tcp.js';
import { admit } from '../policy/admission.js';
import { baseEnvironment, tcpEnvironment } from '../spawn/env.js';
import { forEachLine } from '../spawn/lines.js';
import { isSpawnError, type ExitStatus, type Spawner } from '../spawn/types.js';

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

interface Queued {
  socket: Socket;
  remote: string;
  remotePort: number;
}

function socketFd(socket: Socket): number {
  // net.Socket has no public accessor for its descriptor; _handle.fd has been
  // stable on Unix since Node 0.x and is what child_process uses itself.
  const handle = (socket as unknown as { _handle?: { fd?: number } })._handle;
  return handle?.fd ?? -1;
}

export class ServiceRuntime {
  private baseEnv: Map<string, string>;
  private listener: Listener | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retired = false;
  private readonly running = new Map<number, RunningHandler>();
  private readonly queue: Queued[] = [];
  readonly stats: ServiceStats = { accepted: 0, failed: 0, refused: {} };
  /** Called once the runtime has no handlers and no queued connections after retire(). */
  onDrained: (() => void) | null = null;

  constructor(
    private def: ServiceDefinition,
    private readonly ctx: RuntimeContext,
  ) {
    this.baseEnv = baseEnvironment(def, ctx.environment);
  }

  get definition(): ServiceDefinition {
    return this.def;
  }
  get runningCount(): number {
    return this.running.size;
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
    this.baseEnv = baseEnvironment(def, this.ctx.environment);
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
    for (const q of this.queue.splice(0)) q.socket.destroy();
    this.checkDrained();
  }

  /** Signals every running handler's process group. */
  signalAll(signal: NodeJS.Signals): void {
    for (const pid of this.running.keys()) killGroup(pid, signal);
  }

  private accept(socket: Socket): void {
    const remote = plainAddress(socket.remoteAddress);
    const remotePort = socket.remotePort ?? 0;
    if (remote === '') {
      socket.destroy(); // reset before we saw it
      return;
    }
    const decision = admit({ running: this.running.size, queued: this.queue.length }, this.def);
    if (decision === 'start') return this.start({ socket, remote, remotePort });
    if (decision === 'queue') {
      this.queue.push({ socket, remote, remotePort });
      this.ctx.logger.log('info', 'queued', { service: this.def.name, remote, remote_port: remotePort });
      return;
    }
    this.refuse({ socket, remote, remotePort }, 'queue_full');
  }

  private refuse(conn: Queued, reason: string): void {
    conn.socket.destroy();
    this.stats.refused[reason] = (this.stats.refused[reason] ?? 0) + 1;
    this.ctx.logger.log('warn', 'refused', {
      service: this.def.name,
      remote: conn.remote,
      remote_port: conn.remotePort,
      reason,
    });
  }

  private start(conn: Queued): void {
    const { def, ctx } = this;
    if (def.handler.kind !== 'server') {
      conn.socket.destroy();
      return;
    }
    const { socket, remote, remotePort } = conn;
    const env = tcpEnvironment(this.baseEnv, {
      remoteAddress: remote,
      remotePort,
      localAddress: plainAddress(socket.localAddress),
      localPort: socket.localPort ?? 0,
    });
    const startedAt = performance.now();
    let pid = 0;
    const result = ctx.spawner.spawn(
      {
        program: def.handler.program,
        argv: def.handler.argv,
        env,
        fd: socketFd(socket),
        stderr: def.stderr,
        credentials: def.credentials,
      },
      (status) => this.exited(pid, status),
    );
    // The handler has its own copy now (or there is none): superd keeps nothing.
    socket.destroy();
    if (isSpawnError(result)) {
      this.stats.failed += 1;
      ctx.logger.log('error', 'spawn_failed', {
        service: def.name,
        remote,
        remote_port: remotePort,
        error: result.message,
      });
      this.startQueued();
      return;
    }
    pid = result.pid;
    this.stats.accepted += 1;
    const killTimer = def.timeout === null ? null : this.scheduleTimeout(pid, def.timeout);
    this.running.set(pid, { startedAt, killTimer });
    ctx.logger.log('info', 'accepted', { service: def.name, remote, remote_port: remotePort, pid });
    if (result.stderr !== null) {
      const service = def.name;
      forEachLine(result.stderr, (line) => ctx.logger.log('info', 'stderr', { service, pid, message: line }));
    }
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
    while (this.queue.length > 0 && this.running.size < this.def.maxChildren) {
      const next = this.queue.shift();
      if (next !== undefined) this.start(next);
    }
  }

  private checkDrained(): void {
    if (this.retired && this.running.size === 0 && this.queue.length === 0) this.onDrained?.();
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone: nothing to do.
  }
}
