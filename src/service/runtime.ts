// One service while it runs: its listener, the connections it holds, the
// handlers it started. The daemon owns the set of runtimes and swaps them on
// reload; a runtime only knows its own definition.
//
// Whatever the socket kind (listen/open.ts), what arrives comes here — a
// connection, a wait socket gone readable, a datagram for a builtin — and the
// same counts, limits, timers and logs apply to each.
import type { Duplex } from 'node:stream';
import { builtin } from '../builtins/index.js';
import type { BuiltinName, ServiceDefinition } from '../config/types.js';
import { describeAddress } from '../config/types.js';
import type { LogFields, Logger } from '../log.js';
import type { Connection, Datagram, Listener, ListenerSink, WaitSocket } from '../listen/connection.js';
import { openListener } from '../listen/open.js';
import { admit } from '../policy/admission.js';
import { datagramRefusal } from '../policy/datagram.js';
import { baseEnvironment, localEnvironment, tcpBase, tcpEnvironment } from '../spawn/env.js';
import { readStderrLines } from '../spawn/stderr.js';
import { isSpawnError, type ExitStatus, type SpawnedHandler, type Spawner } from '../spawn/types.js';
import { planRearm } from './rearm.js';

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
  /** A wait handler's socket, watched again once the handler is gone. */
  waitSocket: WaitSocket | null;
}

/** What a started handler is serving, for its log line and environment. */
type Served = { conn: Connection; waitSocket: null } | { conn: null; waitSocket: WaitSocket };

export class ServiceRuntime implements ListenerSink {
  private baseEnv: string[];
  private listener: Listener | null = null;
  private closing: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | null = null;
  private rearmTimer: NodeJS.Timeout | null = null;
  /** Wait rounds in a row whose handler made no progress (rearm.ts). */
  private fruitless = 0;
  private retired = false;
  private readonly running = new Map<number, RunningHandler>();
  /** Builtin tcp connections being served in-process. */
  private readonly serving = new Set<Duplex>();
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
  /** Running handlers (builtin connections included), and those being started. */
  get runningCount(): number {
    return this.running.size + this.serving.size + this.starting;
  }
  get queuedCount(): number {
    return this.queue.length;
  }
  get listening(): string | null {
    return this.listener?.address ?? null;
  }
  /** Resolves once the socket is closed (and a unix socket's file removed) after retire(). */
  get closed(): Promise<void> {
    return this.closing;
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
    const result = await openListener(this.def, this);
    if (this.retired) {
      if ('close' in result) await result.close();
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
    if (this.rearmTimer !== null) clearTimeout(this.rearmTimer);
    this.retryTimer = null;
    this.rearmTimer = null;
    if (this.listener !== null) {
      const closing = this.listener.close();
      this.closing = Promise.resolve(closing).catch(() => undefined);
    }
    this.listener = null;
    this.checkDrained();
  }

  /** Shutdown: connections that never got a handler are closed. */
  dropQueue(): void {
    for (const conn of this.queue.splice(0)) conn.close();
    this.checkDrained();
  }

  /** Signals every running handler's process group; builtin connections are closed. */
  signalAll(signal: NodeJS.Signals): void {
    this.endSignal = signal;
    for (const pid of this.running.keys()) killGroup(pid, signal);
    for (const socket of this.serving) socket.destroy();
  }

  /** A stream connection (nowait tcp or unix). */
  connection(conn: Connection): void {
    if (conn.gone) {
      conn.close(); // reset before we saw it
      return;
    }
    const decision = admit({ running: this.runningCount, queued: this.queue.length }, this.def);
    if (decision === 'start') return this.start(conn);
    if (decision === 'queue') {
      this.queue.push(conn);
      this.ctx.logger.log('info', 'queued', { service: this.def.name, ...remoteFields(conn) });
      return;
    }
    this.refuse(remoteFields(conn), 'queue_full', 'warn');
    conn.close();
  }

  /** A wait service's socket has something to read: one handler gets the socket itself. */
  readable(socket: WaitSocket): void {
    if (this.retired || this.runningCount > 0) return;
    this.spawn({ conn: null, waitSocket: socket }, socket.fd, localEnvironment(this.baseEnv, socket));
  }

  /** A udp request to a builtin: answered here, one `answered` line per request. */
  datagram(d: Datagram): void {
    const { def, ctx } = this;
    if (def.handler.kind !== 'builtin') return;
    const remote = { remote: d.remoteAddress, remote_port: d.remotePort };
    // Never a reflector: another inetd's echo port would answer back forever.
    const why = datagramRefusal(d.remoteAddress, d.remotePort);
    if (why !== null) return this.refuse({ ...remote, message: why }, 'reflection', 'debug');
    const answer = builtin(def.handler.name).answerDatagram(d.data, new Date());
    this.stats.accepted += 1;
    if (answer !== null) d.reply(answer);
    ctx.logger.log('info', 'answered', { service: def.name, ...remote, builtin: def.handler.name, bytes: answer?.length ?? 0 });
  }

  private refuse(fields: LogFields, reason: string, level: 'warn' | 'debug'): void {
    this.stats.refused[reason] = (this.stats.refused[reason] ?? 0) + 1;
    this.ctx.logger.log(level, 'refused', { service: this.def.name, ...fields, reason });
  }

  private start(conn: Connection): void {
    if (this.def.handler.kind === 'builtin') return this.serveBuiltin(conn, this.def.handler.name);
    const env = conn.proto === 'TCP' ? tcpEnvironment(this.baseEnv, conn) : localEnvironment(this.baseEnv, conn);
    this.spawn({ conn, waitSocket: null }, conn.descriptor(), env);
  }

  private spawn(served: Served, fd: number, env: string[]): void {
    const { def, ctx } = this;
    if (def.handler.kind !== 'server') return;
    const startedAt = performance.now();
    let pid = 0;
    this.starting += 1;
    ctx.spawner.spawn(
      { program: def.handler.program, argv: def.handler.argv, env, fd, stderr: def.stderr, credentials: def.credentials },
      (result) => {
        this.starting -= 1;
        // The handler has its own copy now (or there is none): superd keeps no connection.
        served.conn?.close();
        if (isSpawnError(result)) {
          this.stats.failed += 1;
          ctx.logger.log('error', 'spawn_failed', { service: def.name, ...remoteFields(served.conn), error: result.message });
          if (served.waitSocket !== null) this.waitRoundOver(served.waitSocket, 0);
          this.startQueued();
          this.checkDrained();
          return;
        }
        pid = result.pid;
        this.started(result, startedAt, served);
      },
      (status) => this.exited(pid, status),
    );
  }

  private started({ pid, stderr }: SpawnedHandler, startedAt: number, served: Served): void {
    const { def, ctx } = this;
    this.stats.accepted += 1;
    const killTimer = def.timeout === null ? null : this.scheduleTimeout(pid, def.timeout);
    this.running.set(pid, { startedAt, killTimer, waitSocket: served.waitSocket });
    ctx.logger.log('info', 'accepted', { service: def.name, ...remoteFields(served.conn), pid });
    if (stderr !== null) {
      const service = def.name;
      readStderrLines(stderr, (line) => ctx.logger.log('info', 'stderr', { service, pid, message: line }));
    }
    // Shutdown signalled the others while this one was being started.
    if (this.endSignal !== null) killGroup(pid, this.endSignal);
  }

  /** A builtin over tcp: one `accepted` and one `exited` line, like a handler without a pid. */
  private serveBuiltin(conn: Connection, name: BuiltinName): void {
    const { def, ctx } = this;
    const socket = conn.stream();
    socket.on('error', () => undefined); // a reset ends it like a close
    this.serving.add(socket);
    this.stats.accepted += 1;
    const startedAt = performance.now();
    const fields = { service: def.name, ...remoteFields(conn), builtin: name };
    ctx.logger.log('info', 'accepted', fields);
    const timer = def.timeout === null ? null : setTimeout(() => socket.destroy(), def.timeout * 1000);
    let over = false;
    builtin(name).serveStream(socket, () => {
      if (over) return;
      over = true;
      if (timer !== null) clearTimeout(timer);
      socket.destroy();
      this.serving.delete(socket);
      ctx.logger.log('info', 'exited', { ...fields, code: 0, signal: null, duration_ms: Math.round(performance.now() - startedAt) });
      this.startQueued();
      this.checkDrained();
    });
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
    const ranMs = performance.now() - entry.startedAt;
    this.ctx.logger.log('info', 'exited', {
      service: this.def.name,
      pid,
      code: status.code,
      signal: status.signal,
      duration_ms: Math.round(ranMs),
    });
    if (entry.waitSocket !== null) this.waitRoundOver(entry.waitSocket, ranMs);
    this.startQueued();
    this.checkDrained();
  }

  /** The wait handler is gone: watch its socket again, at once or after a back-off (rearm.ts). */
  private waitRoundOver(socket: WaitSocket, ranMs: number): void {
    if (this.retired) return;
    const { fruitless, delayMs } = planRearm(this.fruitless, { ranMs, pending: socket.pending() });
    this.fruitless = fruitless;
    if (delayMs === 0) return socket.rearm();
    this.ctx.logger.log('warn', 'wait_backoff', {
      service: this.def.name,
      retry_in: delayMs / 1000,
      message: `${fruitless} handlers in a row ended within a second and left the socket unread: waiting before the next one`,
    });
    this.rearmTimer = setTimeout(() => {
      this.rearmTimer = null;
      socket.rearm();
    }, delayMs);
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

/** A connection's remote end for logs; a unix connection and a wait socket have none. */
function remoteFields(conn: Connection | null): LogFields {
  if (conn === null || conn.proto === 'UNIX') return {};
  return { remote: conn.remoteAddress, remote_port: conn.remotePort };
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone: nothing to do.
  }
}
