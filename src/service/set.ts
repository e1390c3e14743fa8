// The daemon's services while they run: the active runtime of each name, the
// retired ones whose handlers still run, and each name's figures, kept across
// the runtimes a reload puts in its place (SPEC §6). A reload's plan
// (config/plan.ts) is applied here, and shutdown stops them all.
import { listenConflict } from '../config/overlap.js';
import { inheritedSockets } from '../listen/inherited.js';
import { canTakeOver } from '../listen/open.js';
import type { ReloadPlan } from '../config/plan.js';
import type { ServiceDefinition } from '../config/types.js';
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
      const rt = this.createRuntime(def);
      this.services.set(def.name, rt);
      binds.push(rt.listen());
    }
    await Promise.all(binds);
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
    return new ServiceRuntime(def, this.context, stats);
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
    return countRunning([...this.services.values(), ...this.draining]);
  }

  /** Shutdown: stop accepting, give handlers the grace period, then end them; resolves once they are gone or killed. */
  async stop(graceSeconds: number): Promise<void> {
    const all = [...this.services.values(), ...this.draining];
    const running = (): number => countRunning(all);
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
      await waitUntil(() => running() === 0, Date.now() + KILL_AFTER_MS);
      for (const rt of all) rt.signalAll('SIGKILL');
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
