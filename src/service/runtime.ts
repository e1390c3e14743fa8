// One service while it runs: what arrives on its socket, judged, queued and
// handed on. The daemon owns the set of runtimes and swaps them on reload
// (set.ts); a runtime only knows its own definition.
//
// Whatever the socket kind (listen/open.ts), what arrives comes here — a
// connection, a wait socket gone readable, a datagram for a builtin — and the
// same counts, limits, timers and logs apply to each. Its parts: the socket
// (listener.ts), the handler processes (handlers.ts), builtins served
// in-process (builtin.ts), a wait service's rounds (wait.ts), refusals
// counted and logged (refused.ts), a connection's PROXY header and TLS
// handshake before it is judged (arrival.ts).
import type { ServiceDefinition } from '../config/types.js';
import type { Connection, Datagram, Listener, ListenerSink, PortHandOver, WaitSocket } from '../listen/connection.js';
import type { LogFields } from '../log/types.js';
import { datagramRefusal } from '../policy/datagram.js';
import { ServicePolicy } from '../policy/verdict.js';
import { baseEnvironment, localEnvironment, tcpBase, tcpEnvironment } from '../spawn/env.js';
import { Arrivals } from './arrival.js';
import { BuiltinServing } from './builtin.js';
import { fdErrorName } from './fdpressure.js';
import { HandlerProcesses, type HandlerGone } from './handlers.js';
import { ServiceListener } from './listener.js';
import { RefusalReporter } from './refused.js';
import { remoteFields, sourceOf } from './remote.js';
import { newStats, type RuntimeContext, type ServiceStats } from './types.js';
import { WaitRounds } from './wait.js';
import { awaitingHeader, passedConnection, type PassedBuiltin, type PassedConnection, type PassedHandler } from '../upgrade/state.js';

export class ServiceRuntime implements ListenerSink {
  private baseEnv: string[];
  private readonly socket: ServiceListener;
  /** A wait service's rounds: what wakes it, and when its socket is watched again (wait.ts). */
  private readonly waitRounds: WaitRounds;
  private retired = false;
  private readonly handlers: HandlerProcesses;
  private readonly builtins: BuiltinServing;
  private readonly queue: Connection[] = [];
  private readonly policy: ServicePolicy;
  /** Every refusal counted; a flood logged as a summary (refused.ts). */
  private readonly refusals: RefusalReporter;
  /** Before they are judged: a PROXY header read, a TLS handshake (arrival.ts). */
  private readonly arrivals: Arrivals;
  /** An upgrade is being prepared (src/upgrade/): what is admitted waits in the queue, nothing starts. */
  private held = false;
  /** A wait socket found readable while a handler ran or while held: watched again once that is over. */
  private idleWaitSocket: WaitSocket | null = null;

  /** Called once the runtime has no handlers and no queued connections after retire(). */
  onDrained: (() => void) | null = null;

  constructor(
    private def: ServiceDefinition,
    private readonly ctx: RuntimeContext,
    /** Totals of the service's name, shared with the runtimes before and after it. */
    readonly stats: ServiceStats = newStats(),
  ) {
    const current = (): ServiceDefinition => this.def;
    this.baseEnv = tcpBase(baseEnvironment(def, ctx.environment));
    this.policy = new ServicePolicy(def);
    this.refusals = new RefusalReporter(def.name, stats.refused, ctx.logger);
    this.socket = new ServiceListener(current, this, ctx.logger, stats);
    this.handlers = new HandlerProcesses(current, ctx, stats, (gone) => this.handlerGone(gone), () => this.checkDrained());
    this.builtins = new BuiltinServing(current, ctx, stats, (conn) => this.builtinEnded(conn));
    this.waitRounds = new WaitRounds(def.name, ctx.logger, (address, fields, reason) => this.refuse(address, fields, reason));
    const settled = (): void => this.checkDrained();
    const dropped = (conn: Connection, reason: string): void => this.ctx.logger.log('info', 'dropped', { service: this.def.name, ...remoteFields(conn), reason });
    this.arrivals = new Arrivals(current, this.policy, { admit: (conn) => this.admit(conn), refuse: (address, fields, reason) => this.refuse(address, fields, reason), dropped, settled });
  }

  get definition(): ServiceDefinition {
    return this.def;
  }
  /** Running handlers (builtin connections included), and those being started. */
  get runningCount(): number {
    return this.handlers.count + this.builtins.count;
  }
  /** Process groups whose handler exited but whose other members run on. */
  get leftoverCount(): number {
    return this.handlers.leftoverCount;
  }
  get queuedCount(): number {
    return this.queue.length;
  }
  get listening(): string | null {
    return this.socket.address;
  }
  /** Resolves once the socket is closed (and a unix socket's file removed) after retire(). */
  get closed(): Promise<void> {
    return this.socket.closed;
  }

  /** Handlers being started (their pids not known yet). */
  get startingCount(): number {
    return this.handlers.startingCount;
  }

  /** An upgrade is being prepared (on): admitted connections wait in the queue until the exec; or it did not happen (off). */
  hold(on: boolean): void {
    this.held = on;
    if (on) return;
    this.rearmIdle();
    this.startQueued();
  }

  /** What an upgrade passes on (upgrade/state.ts): the socket's descriptor (the pool's, for systemd's), running handlers, queued connections' and builtin connections' descriptors. */
  handedOver(retired: boolean): { listener: NonNullable<Listener['passable']> | null; pooled: number | null; handlers: PassedHandler[]; queued: PassedConnection[]; builtins: PassedBuiltin[] } {
    const service = this.def.name;
    const queued = [...this.queue.filter((c) => c.tls === undefined).map((c) => passedConnection(service, c)), ...this.arrivals.waitingForHeader().map((c) => awaitingHeader(service, c))];
    return { listener: this.socket.passable, pooled: this.socket.pooled, handlers: this.handlers.list(service, retired), queued, builtins: this.builtins.handedOver(service) };
  }

  /** A connection a builtin of the old image was serving: served on here, its slot and its source held. */
  takeBuiltin(conn: Connection, passed: PassedBuiltin): void {
    this.policy.holds(sourceOf(conn));
    this.builtins.resume(conn, passed);
  }

  /** A handler the old image started (an upgrade): counted, reaped and logged here from now on. */
  takeOver(h: PassedHandler): void {
    this.handlers.takeOver(h);
    if (h.source !== null) this.policy.holds(h.source);
  }

  /** A connection the old image had queued: it waits here for a slot, as it did there; one still sending its PROXY header is read from the start. */
  takeQueued(conn: Connection, header: boolean): void {
    if (header && this.def.proxy === null) {
      // Its header is still unread, and the service reads none now: the handler would get it as data.
      conn.close();
      return this.refuse(sourceOf(conn), { ...remoteFields(conn), message: 'its PROXY header was still unread at the upgrade, and the service no longer has proxy_protocol' }, 'proxy_header');
    }
    if (header) return this.connection(conn);
    this.queue.push(conn);
    this.policy.holds(sourceOf(conn));
    this.startQueued();
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

  /** Binds now, or tries again every 30 s until it binds or is retired (listener.ts). */
  listen(onBound?: () => void, quiet = false, reusePort = false): Promise<boolean> {
    return this.socket.open(onBound, quiet, reusePort);
  }

  /** What a reload needs to hand the socket's port over (set.ts), or null. */
  get handOver(): PortHandOver | null {
    return this.socket.handOver;
  }

  /** Stops listening; running handlers (and queued connections) finish undisturbed. */
  retire(): void {
    this.retired = true;
    this.waitRounds.stop();
    this.socket.close();
    this.checkDrained();
  }

  /** Shutdown: connections that never got a handler are closed. */
  dropQueue(): void {
    this.arrivals.closeAll();
    for (const conn of this.queue.splice(0)) this.drop(conn);
    this.checkDrained();
  }

  /** Signals every running handler's process group; builtin connections are closed. */
  signalAll(signal: NodeJS.Signals): void {
    this.handlers.signalAll(signal);
    this.builtins.closeAll();
  }

  /** A stream connection (nowait tcp or unix): handed on, then whether a descriptor is left for the next (service/fdpressure.ts). */
  connection(conn: Connection): void {
    // Through a PROXY header and a TLS handshake first, where the service has them (arrival.ts).
    this.arrivals.arrive(conn);
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
    if (this.retired || this.runningCount > 0 || this.held) {
      this.idleWaitSocket = socket;
      return;
    }
    if (!this.waitRounds.admit(socket, this.policy, this.def.rate)) return;
    this.handlers.spawn({ conn: null, waitSocket: socket }, socket.fd, localEnvironment(this.baseEnv, socket));
  }

  /** A udp request to a builtin: judged here, answered by builtin.ts. */
  datagram(d: Datagram): void {
    const { def } = this;
    if (def.handler.kind !== 'builtin') return;
    const remote = { remote: d.remoteAddress, remote_port: d.remotePort };
    // Never a reflector, nor one end of a loop (policy/datagram.ts).
    const why = datagramRefusal(d.remoteAddress, d.remotePort, d.context);
    if (why !== null) return this.refuse(d.remoteAddress, { ...remote, message: why }, 'reflection');
    const refusal = this.policy.admitRequest(d.remoteAddress);
    if (refusal !== null) return this.refuse(d.remoteAddress, remote, refusal);
    this.builtins.answer(d, def.handler.name);
  }

  private refuse(address: string, fields: LogFields, reason: string): void {
    this.refusals.refuse(address, fields, reason);
  }

  private start(conn: Connection): void {
    if (this.held) {
      this.queue.push(conn);
      return;
    }
    if (this.def.handler.kind === 'builtin') return this.builtins.serve(conn, this.def.handler.name);
    const env = conn.proto === 'TCP' ? tcpEnvironment(this.baseEnv, conn) : localEnvironment(this.baseEnv, conn);
    this.handlers.spawn({ conn, waitSocket: null }, conn.descriptor(), env);
  }

  /** A handler exited or could not be started: its slot goes to the next, its wait socket is watched again. */
  private handlerGone({ source, waitSocket, ranMs }: HandlerGone): void {
    if (source !== null) this.policy.release(source);
    if (waitSocket === null) this.rearmIdle();
    else this.waitRounds.over(waitSocket, ranMs);
    this.startQueued();
    this.checkDrained();
  }

  private builtinEnded(conn: Connection): void {
    this.policy.release(sourceOf(conn));
    this.startQueued();
    this.checkDrained();
  }

  /** A wait socket left unwatched while a handler the old image started ran, or while held: watched again. */
  private rearmIdle(): void {
    const socket = this.idleWaitSocket;
    if (socket === null || this.retired || this.held || this.runningCount > 0) return;
    this.idleWaitSocket = null;
    socket.rearm();
  }

  private startQueued(): void {
    while (!this.held && this.queue.length > 0 && this.runningCount < this.def.maxChildren) {
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
    if (this.retired && this.runningCount === 0 && this.queue.length === 0 && this.arrivals.count === 0 && this.handlers.leftoverCount === 0) this.onDrained?.();
  }
}
