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
import type { LastError } from '../control/status.js';
import { describeAddress } from '../config/types.js';
import type { LogFields, Logger } from '../log.js';
import type { Connection, Datagram, Listener, ListenerSink, WaitSocket } from '../listen/connection.js';
import { openListener } from '../listen/open.js';
import { datagramRefusal } from '../policy/datagram.js';
import { ServicePolicy } from '../policy/verdict.js';
import { baseEnvironment, localEnvironment, tcpBase, tcpEnvironment } from '../spawn/env.js';
import { logHandlerStderr, type StderrReader } from '../stderr/read.js';
import { isSpawnError, type ExitStatus, type SpawnedHandler, type Spawner } from '../spawn/types.js';
import { FdPressure, fdErrorName, isFdExhaustion } from './fdpressure.js';
import { killGroup, LeftoverGroups } from '../reap/leftovers.js';
import { PipeSweeper } from '../stderr/sweeper.js';
import { answeredLines, RefusalReporter, type BoundedLines } from './refused.js';
import { WaitRounds } from './wait.js';

export const BIND_RETRY_SECONDS = 30;
/** After `timeout` or the shutdown grace, SIGTERM; this long after that, SIGKILL (SPEC §2, §5). */
export const KILL_AFTER_MS = 5000;
/** How long a handler's stderr pipe is read after the handler exited (a leftover may hold it). */
export const LEFTOVER_STDERR_MS = 5000;

export interface RuntimeContext {
  spawner: Spawner;
  logger: Logger;
  /** Shared by every service: running out of descriptors is one episode for the whole daemon. */
  fdPressure: FdPressure;
  /** superd's own environment, for PATH and pass_env. */
  environment: NodeJS.ProcessEnv;
}

export interface ServiceStats {
  accepted: number;
  failed: number;
  refused: Record<string, number>;
  lastError: LastError | null;
}

interface RunningHandler {
  startedAt: number;
  /** When `timeout` ends it (performance.now() ms), or null. */
  deadline: number | null;
  killTimer: NodeJS.Timeout | null;
  /** A wait handler's socket, watched again once the handler is gone. */
  waitSocket: WaitSocket | null;
  /** The remote address its connection was admitted for (released when it is gone); null for a wait handler. */
  source: string | null;
  /** Its stderr pipe being read (`stderr = log`): what it left behind may hold the pipe open. */
  stderr: StderrReader | null;
}

/** What a started handler is serving, for its log line and environment. */
type Served = { conn: Connection; waitSocket: null } | { conn: null; waitSocket: WaitSocket };

export class ServiceRuntime implements ListenerSink {
  private baseEnv: string[];
  private listener: Listener | null = null;
  private closing: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | null = null;
  /** A wait service's rounds: what wakes it, and when its socket is watched again (wait.ts). */
  private readonly waitRounds: WaitRounds;
  private retired = false;
  private readonly running = new Map<number, RunningHandler>();
  /** Builtin tcp connections being served in-process. */
  private readonly serving = new Set<Duplex>();
  /** Handlers being spawned: they hold a max_children slot, and their connection stays open. */
  private starting = 0;
  /** Set once shutdown has signalled the handlers: one that starts later gets the same. */
  private endSignal: NodeJS.Signals | null = null;
  private readonly queue: Connection[] = [];
  /** The stderr pipes of exited handlers, closed if still open LEFTOVER_STDERR_MS later. */
  private readonly pipes = new PipeSweeper(LEFTOVER_STDERR_MS);
  /** What exited handlers left running in their process groups. */
  private readonly leftovers = new LeftoverGroups(KILL_AFTER_MS, () => this.checkDrained());
  private readonly policy: ServicePolicy;
  /** Every refusal counted; a flood logged as a summary (refused.ts). */
  private readonly refusals: RefusalReporter;
  /** A udp builtin's `answered` lines, bounded per source like refusals. */
  private readonly answers: BoundedLines;

  /** Called once the runtime has no handlers and no queued connections after retire(). */
  onDrained: (() => void) | null = null;

  constructor(
    private def: ServiceDefinition,
    private readonly ctx: RuntimeContext,
    /** Totals of the service's name, shared with the runtimes before and after it. */
    readonly stats: ServiceStats = { accepted: 0, failed: 0, refused: {}, lastError: null },
  ) {
    this.baseEnv = tcpBase(baseEnvironment(def, ctx.environment));
    this.policy = new ServicePolicy(def);
    this.refusals = new RefusalReporter(def.name, stats.refused, ctx.logger);
    this.answers = answeredLines(def.name, ctx.logger);
    this.waitRounds = new WaitRounds(def.name, ctx.logger, (address, fields, reason) => this.refuse(address, fields, reason));
  }

  get definition(): ServiceDefinition {
    return this.def;
  }
  /** Running handlers (builtin connections included), and those being started. */
  get runningCount(): number {
    return this.running.size + this.serving.size + this.starting;
  }
  /** Process groups whose handler exited but whose other members run on. */
  get leftoverCount(): number {
    return this.leftovers.size;
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

  /** The same definition found at another place (file, line): nothing else changes. */
  relocate(def: ServiceDefinition): void {
    this.def = def;
  }

  /** New settings for new connections; the socket stays as it is. */
  update(def: ServiceDefinition): void {
    this.def = def;
    this.baseEnv = tcpBase(baseEnvironment(def, this.ctx.environment));
    this.policy.reconfigure(def);
    // A raised max_children takes queued connections at once, not at the next exit.
    this.startQueued();
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
    this.stats.lastError = { time: new Date().toISOString(), kind: 'bind', message: result.message };
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
    this.waitRounds.stop();
    if (this.listener !== null) {
      const closing = this.listener.close();
      this.closing = Promise.resolve(closing).catch(() => undefined);
    }
    this.listener = null;
    this.checkDrained();
  }

  /** Shutdown: connections that never got a handler are closed. */
  dropQueue(): void {
    for (const conn of this.queue.splice(0)) this.drop(conn);
    this.checkDrained();
  }

  /** Signals every running handler's process group; builtin connections are closed. */
  signalAll(signal: NodeJS.Signals): void {
    this.endSignal = signal;
    for (const pid of this.running.keys()) killGroup(pid, signal);
    this.leftovers.signalAll(signal);
    for (const socket of this.serving) socket.destroy();
  }

  /** A stream connection (nowait tcp or unix): handed on, then whether a descriptor is left for the next (service/fdpressure.ts). */
  connection(conn: Connection): void {
    this.admit(conn);
    this.ctx.fdPressure.accepted(this.def.name);
  }

  private admit(conn: Connection): void {
    if (conn.gone) {
      conn.close(); // reset before we saw it
      return;
    }
    // Judged before it is counted or queued: a refused client costs nobody a slot.
    const verdict = this.policy.admitConnection(sourceOf(conn), { running: this.runningCount, queued: this.queue.length });
    if (verdict === 'start') return this.start(conn);
    if (verdict === 'queue') {
      this.queue.push(conn);
      this.ctx.logger.log('info', 'queued', { service: this.def.name, ...remoteFields(conn) });
      return;
    }
    conn.close();
    this.refuse(sourceOf(conn), remoteFields(conn), verdict);
  }

  /** A connection admitted but never served (shutdown, or its client left while queued). */
  private drop(conn: Connection): void {
    conn.close();
    this.policy.release(sourceOf(conn));
  }

  acceptFailed(status: number): void {
    const name = fdErrorName(status);
    if (name !== null) this.ctx.fdPressure.hit('accept', this.def.name, name);
  }

  /** A wait service's socket has something to read: one handler gets the socket itself. */
  readable(socket: WaitSocket): void {
    if (this.retired || this.runningCount > 0) return;
    if (!this.waitRounds.admit(socket, this.policy, this.def.rate)) return;
    this.spawn({ conn: null, waitSocket: socket }, socket.fd, localEnvironment(this.baseEnv, socket));
  }

  /** A udp request to a builtin: answered here; `answered` lines bounded per source, as refusals are. */
  datagram(d: Datagram): void {
    const { def } = this;
    if (def.handler.kind !== 'builtin') return;
    const remote = { remote: d.remoteAddress, remote_port: d.remotePort };
    // Never a reflector, nor one end of a loop (policy/datagram.ts).
    const why = datagramRefusal(d.remoteAddress, d.remotePort, d.context);
    if (why !== null) return this.refuse(d.remoteAddress, { ...remote, message: why }, 'reflection');
    const refusal = this.policy.admitRequest(d.remoteAddress);
    if (refusal !== null) return this.refuse(d.remoteAddress, remote, refusal);
    const answer = builtin(def.handler.name).answerDatagram(d.data, new Date());
    this.stats.accepted += 1;
    if (answer !== null) d.reply(answer);
    this.answers.line(def.handler.name, d.remoteAddress, { ...remote, builtin: def.handler.name, bytes: answer?.length ?? 0 });
  }

  private refuse(address: string, fields: LogFields, reason: string): void {
    this.refusals.refuse(address, fields, reason);
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
          if (served.conn !== null) this.policy.release(sourceOf(served.conn));
          this.stats.failed += 1;
          this.stats.lastError = { time: new Date().toISOString(), kind: 'spawn', message: result.message };
          // Out of descriptors: one episode for the daemon, not one line per connection.
          if (isFdExhaustion(result.message)) ctx.fdPressure.hit('spawn', def.name, result.message);
          else ctx.logger.log('error', 'spawn_failed', { service: def.name, ...remoteFields(served.conn), error: result.message });
          if (served.waitSocket !== null) this.waitRounds.over(served.waitSocket, 0);
          this.startQueued();
          this.checkDrained();
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
    const { def, ctx } = this;
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

  /** A builtin over tcp: one `accepted` and one `exited` line, like a handler without a pid. */
  private serveBuiltin(conn: Connection, name: BuiltinName): void {
    const { def, ctx } = this;
    const socket = conn.stream();
    socket.on('error', () => undefined); // a reset ends it like a close
    this.serving.add(socket);
    this.stats.accepted += 1;
    ctx.fdPressure.ok();
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
      this.policy.release(sourceOf(conn));
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
    if (entry.source !== null) this.policy.release(entry.source);
    // The handler's process group is its work: what it left running is still followed.
    this.leftovers.follow(pid, entry.deadline === null ? null : Math.max(0, entry.deadline - performance.now()));
    // Its stderr usually ends with it; a process it left behind holding the
    // pipe gets a little longer, then the pipe is closed: it pins nothing.
    entry.stderr?.handlerExited();
    if (entry.stderr !== null && !entry.stderr.done) this.pipes.closeLater(entry.stderr);
    const ranMs = performance.now() - entry.startedAt;
    this.ctx.logger.log('info', 'exited', {
      service: this.def.name,
      pid,
      code: status.code,
      signal: status.signal,
      duration_ms: Math.round(ranMs),
    });
    if (entry.waitSocket !== null) this.waitRounds.over(entry.waitSocket, ranMs);
    this.startQueued();
    this.checkDrained();
  }

  private startQueued(): void {
    while (this.queue.length > 0 && this.runningCount < this.def.maxChildren) {
      const next = this.queue.shift();
      if (next === undefined) break;
      // A client that reset while it waited is gone: nothing to hand over.
      // One that half-closed waits for its answer, and is served.
      if (next.reset()) {
        this.drop(next);
        this.ctx.logger.log('info', 'dropped', { service: this.def.name, ...remoteFields(next), reason: 'client_reset' });
        continue;
      }
      this.start(next);
    }
  }

  private checkDrained(): void {
    if (this.retired && this.runningCount === 0 && this.queue.length === 0 && this.leftovers.size === 0) this.onDrained?.();
  }
}

/** What the per-source rules judge: the remote address, or '' for a unix client (it has none). */
function sourceOf(conn: Connection): string {
  return conn.proto === 'UNIX' ? '' : conn.remoteAddress;
}

/** A connection's remote end for logs; a unix connection and a wait socket have none. */
function remoteFields(conn: Connection | null): LogFields {
  if (conn === null || conn.proto === 'UNIX') return {};
  return { remote: conn.remoteAddress, remote_port: conn.remotePort };
}
