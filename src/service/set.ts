// The daemon's services while they run: the active runtime of each name, the
// retired ones whose handlers still run, and each name's figures, kept across
// the runtimes a reload puts in its place (SPEC §6). A reload's plan
// (config/plan.ts) is applied here, and shutdown stops them all.
import { listenConflict } from '../config/overlap.js';
import { inheritedSockets } from '../listen/inherited.js';
import { canTakeOver } from '../listen/open.js';
import type { ReloadPlan } from '../config/plan.js';
import { describeAddress, type ServiceDefinition } from '../config/types.js';
import { interimOf, servingOld } from '../upgrade/interim.js';
import type { Orphans, Passed, PassedBuiltinOf, PassedConnectionOf } from '../upgrade/passed.js';
import type { PassedBuiltin, PassedConnection, PassedHandler, PassedInterim, PassedListener } from '../upgrade/state.js';
import type { Logger } from '../log/types.js';
import { KILL_AFTER_MS } from './handlers.js';
import { ServiceRuntime } from './runtime.js';
import { newStats, type RuntimeContext, type ServiceStats } from './types.js';

export class ServiceSet {
  /** Active services by name. */
  private readonly services = new Map<string, ServiceRuntime>();
  /** Retired runtimes whose handlers are still running. */
  private readonly draining = new Set<ServiceRuntime>();
  /** A runtime waiting for its new socket, and the old one that serves until it binds. */
  private readonly predecessors = new Map<ServiceRuntime, ServiceRuntime>();
  /** Totals per service name, kept across reloads and new sockets (SPEC §6). */
  private readonly stats = new Map<string, ServiceStats>();
  private readonly logger: Logger;
  /** What an upgrade passed (src/upgrade/), by service: the first runtime of that name takes it as it is made. */
  private readonly passed = new Map<string, Passed>();
  /** Handlers an upgrade passed whose service is gone (upgrade/orphans.ts): ended with the others at shutdown. */
  private orphans: Orphans | null = null;

  constructor(private readonly context: RuntimeContext) {
    this.logger = context.logger;
  }

  get size(): number {
    return this.services.size;
  }

  /** The active runtimes, in the order they were added. */
  active(): ServiceRuntime[] {
    return [...this.services.values()];
  }

  /** What runs now, by name: what the next reload is planned against. */
  definitions(): Map<string, ServiceDefinition> {
    const current = new Map<string, ServiceDefinition>();
    for (const [name, rt] of this.services) current.set(name, rt.definition);
    return current;
  }

  /** Before the first load: the figures, handlers, queued and builtin connections an upgrade passed on. */
  restore(stats: Record<string, ServiceStats>, handlers: readonly PassedHandler[], queued: readonly ({ service: string } & PassedConnectionOf)[], builtins: readonly PassedBuiltinOf[]): void {
    for (const [name, figures] of Object.entries(stats)) this.stats.set(name, figures);
    const of = (service: string): Passed => {
      let p = this.passed.get(service);
      if (p === undefined) this.passed.set(service, (p = { handlers: [], queued: [], builtins: [] }));
      return p;
    };
    // A retired runtime's handlers hold no slot of the service now running under that name.
    for (const h of handlers) of(h.retired ? '' : h.service).handlers.push(h);
    for (const q of queued) of(q.service).queued.push({ conn: q.conn, header: q.header });
    for (const b of builtins) of(b.passed.service).builtins.push(b);
  }

  /** After the first load: what no runtime took (its service is gone), and where orphaned handlers are counted from now on. */
  unclaimed(orphans: Orphans): Passed {
    this.orphans = orphans;
    const left: Passed = { handlers: [], queued: [], builtins: [] };
    for (const p of this.passed.values()) {
      left.handlers.push(...p.handlers);
      left.queued.push(...p.queued);
      left.builtins.push(...p.builtins);
    }
    this.passed.clear();
    return left;
  }

  /** An upgrade is being prepared: nothing starts; admitted connections wait. */
  hold(): void {
    for (const rt of this.all()) rt.hold(true);
  }

  /** The upgrade did not happen. */
  release(): void {
    for (const rt of this.all()) rt.hold(false);
  }

  /** Handlers being started anywhere (their pids not known yet). */
  starting(): number {
    return this.all().reduce((n, rt) => n + rt.startingCount, 0);
  }

  /** What an upgrade passes on: each active service's socket (or the old one serving while it waits to bind), every handler, queued and builtin connection. */
  handedOver(): { listeners: PassedListener[]; pooledInterims: Map<number, PassedInterim>; handlers: PassedHandler[]; queued: PassedConnection[]; builtins: PassedBuiltin[]; stats: Record<string, ServiceStats> } {
    const active = new Set(this.services.values());
    const interims = servingOld(this.services.values(), this.predecessors);
    const listeners: PassedListener[] = [];
    // A socket systemd passed stays in the pool (listen/inherited.ts): its move goes with its entry there.
    const pooledInterims = new Map<number, PassedInterim>();
    const parts = this.all().map((rt) => {
      const next = interims.get(rt);
      // An old socket serving until its service's new one binds goes on with its handlers: they are not retired.
      const part = rt.handedOver(!active.has(rt) && next === undefined);
      const { definition: def } = rt;
      if ((active.has(rt) || next !== undefined) && part.listener !== null) {
        const interim = next === undefined ? {} : { interim: interimOf(def, next.definition) };
        listeners.push({ service: def.name, address: describeAddress(def), fd: part.listener.fd, ownFile: part.listener.ownFile, ...interim });
      }
      if (next !== undefined && part.pooled !== null) pooledInterims.set(part.pooled, interimOf(def, next.definition));
      return part;
    });
    const builtins = parts.flatMap((p) => p.builtins);
    return { listeners, pooledInterims, handlers: parts.flatMap((p) => p.handlers), queued: parts.flatMap((p) => p.queued), builtins, stats: Object.fromEntries(this.stats) };
  }

  private all(): ServiceRuntime[] {
    return [...this.services.values(), ...this.draining];
  }

  /** Removed first, so a port handed from one service to another is free to bind. */
  async apply(plan: ReloadPlan): Promise<void> {
    for (const def of plan.remove) {
      const rt = this.services.get(def.name);
      if (rt === undefined) continue;
      this.services.delete(def.name);
      // Removed: if a service of that name comes back, it starts from zero.
      this.stats.delete(def.name);
      this.retire(rt);
      this.logger.log('info', 'removed', { service: def.name });
    }
    // Unchanged in effect, but the origin may have moved (another file, another
    // line): keep it current so a later error in that file keeps the right services.
    for (const def of plan.unchanged) this.services.get(def.name)?.relocate(def);
    const binds: Promise<boolean>[] = [];
    for (const { to, rebind } of plan.change) {
      const old = this.services.get(to.name);
      if (old === undefined) continue;
      if (!rebind) {
        old.update(to);
        continue;
      }
      binds.push(this.rebind(old, to));
    }
    for (const def of plan.add) {
      const interim = inheritedSockets.interimFor(def);
      if (interim !== null) {
        binds.push(this.resumeMove(interim, def));
        continue;
      }
      const rt = this.createRuntime(def);
      this.services.set(def.name, rt);
      binds.push(rt.listen());
    }
    await Promise.all(binds);
  }

  /**
   * After an upgrade, a move the old image had under way (upgrade/interim.ts):
   * the old socket the upgrade passed serves, with what the old runtime had
   * (its handlers, its queue), until def's own address binds, as after the
   * reload that moved it.
   */
  private async resumeMove(interim: ServiceDefinition, def: ServiceDefinition): Promise<boolean> {
    const old = this.createRuntime(interim);
    this.services.set(def.name, old);
    await old.listen();
    return this.rebind(old, def);
  }

  /**
   * The new socket opens before the old one closes, so there is no moment
   * without a listener; until the new one binds (a busy port is retried every
   * 30 s) the old one serves on. Where the two addresses overlap
   * (127.0.0.1:P becoming 0.0.0.0:P, tcp becoming tcp4), which the kernel
   * refuses in that order, the port is handed over: both sockets share it
   * (SO_REUSEPORT, set late on the old one) until the old one closes, and the
   * new one then stops sharing (sys/socket-handover.ts). Only a unix socket
   * file, or a socket Node made (no native layer), is closed first.
   */
  private async rebind(old: ServiceRuntime, to: ServiceDefinition): Promise<boolean> {
    const next = this.createRuntime(to);
    this.services.set(to.name, next);
    this.draining.add(old);
    // Adopting the socket the old one holds is an overlap too: it has no hand-over, so it is closed first and handed on.
    const overlap = listenConflict(old.definition, to) || inheritedSockets.same(old.definition, to);
    if (overlap && !(canTakeOver(to) && old.handOver?.share() === true)) {
      this.retire(old);
      // A unix socket file must be gone before the new one is placed: the new
      // one's probe for a live program there would reach the old socket.
      await old.closed;
      return next.listen();
    }
    this.predecessors.set(next, old);
    const bound = (): void => {
      this.predecessors.delete(next);
      // On an overlapping address the old socket takes the clients until it
      // closes: it turns new ones away first, and closes once the handshakes
      // under way are in its backlog (listen/tcp.ts).
      const settled = overlap ? old.handOver?.turnAway() : null;
      if (settled === null || settled === undefined) this.handOff(old, next, overlap);
      else void settled.then(() => this.handOff(old, next, overlap));
    };
    return next.listen(bound, false, overlap);
  }

  /** The old socket closes, what waits in its backlog served rather than reset; a shared port is the new one's alone again. */
  private handOff(old: ServiceRuntime, next: ServiceRuntime, shared: boolean): void {
    old.handOver?.drain();
    this.retire(old);
    if (shared) void old.closed.then(() => next.handOver?.unshare());
  }

  private createRuntime(def: ServiceDefinition): ServiceRuntime {
    let stats = this.stats.get(def.name);
    if (stats === undefined) {
      stats = newStats();
      this.stats.set(def.name, stats);
    }
    const rt = new ServiceRuntime(def, this.context, stats);
    const passed = this.passed.get(def.name);
    this.passed.delete(def.name);
    // Before its socket is watched: a wait service's old handler holds the socket.
    for (const h of passed?.handlers ?? []) rt.takeOver(h);
    for (const q of passed?.queued ?? []) rt.takeQueued(q.conn, q.header);
    for (const b of passed?.builtins ?? []) rt.takeBuiltin(b.conn, b.passed);
    return rt;
  }

  private retire(rt: ServiceRuntime): void {
    // Replaced again before its socket bound: the old one it was to replace goes too.
    const old = this.predecessors.get(rt);
    this.predecessors.delete(rt);
    if (old !== undefined) this.retire(old);
    this.draining.add(rt);
    rt.onDrained = () => this.draining.delete(rt);
    rt.retire();
  }

  /** Handlers, and what exited handlers left running in their process groups, of every runtime. */
  running(): number {
    return countRunning(this.all()) + (this.orphans?.count ?? 0);
  }

  /** Shutdown: stop accepting, give handlers the grace period, then end them; resolves once they are gone or killed. */
  async stop(graceSeconds: number): Promise<void> {
    const all = this.all();
    const orphans = this.orphans;
    const running = (): number => countRunning(all) + (orphans?.count ?? 0);
    for (const rt of all) {
      rt.retire();
      rt.dropQueue();
    }
    // Unix socket files are removed before superd exits.
    await Promise.all(all.map((rt) => rt.closed));
    const deadline = Date.now() + graceSeconds * 1000;
    await waitUntil(() => running() === 0, deadline);
    if (running() > 0) {
      for (const rt of all) rt.signalAll('SIGTERM');
      orphans?.signalAll('SIGTERM');
      await waitUntil(() => running() === 0, Date.now() + KILL_AFTER_MS);
      for (const rt of all) rt.signalAll('SIGKILL');
      orphans?.signalAll('SIGKILL');
      await waitUntil(() => running() === 0, Date.now() + 1000);
    }
  }
}

function countRunning(runtimes: ServiceRuntime[]): number {
  return runtimes.reduce((n, rt) => n + rt.runningCount + rt.leftoverCount, 0);
}

function waitUntil(done: () => boolean, deadline: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (done() || Date.now() >= deadline) resolve();
      else setTimeout(check, 20);
    };
    check();
  });
}
