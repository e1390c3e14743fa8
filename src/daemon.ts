// Owns the running state: the set of service runtimes. Signal handlers only
// record what was asked; the work (reload, shutdown) runs from the event loop,
// one at a time, like OpenBSD inetd's flag-and-loop design.
import { loadServicesDir } from './config/load.js';
import { planReload, type ReloadPlan } from './config/plan.js';
import { listenConflict } from './config/overlap.js';
import { describeAddress, type ServiceDefinition } from './config/types.js';
import type { DaemonStatus, ReloadReport } from './control/status.js';
import type { ConfigError, SuperdError } from './errors.js';
import type { LogFields, Logger } from './log/types.js';
import { removePidFile, writePidFile } from './pidfile.js';
import { problemCount } from './config/problems.js';
import type { Lifecycle } from './notify.js';
import { KILL_AFTER_MS, ServiceRuntime, type RuntimeContext, type ServiceStats } from './service/runtime.js';

export interface DaemonOptions {
  servicesDir: string;
  pidFile: string | null;
  shutdownGraceSeconds: number;
  context: RuntimeContext;
  /** Told when superd is ready, reloading and stopping (systemd's notify protocol). */
  lifecycle?: Lifecycle;
}

export class Daemon {
  /** Active services by name. */
  private readonly services = new Map<string, ServiceRuntime>();
  /** Retired runtimes whose handlers are still running. */
  private readonly draining = new Set<ServiceRuntime>();
  /** A runtime waiting for its new socket, and the old one that serves until it binds. */
  private readonly predecessors = new Map<ServiceRuntime, ServiceRuntime>();
  /** Totals per service name, kept across reloads and new sockets (SPEC §6). */
  private readonly stats = new Map<string, ServiceStats>();
  private reloading: Promise<void> | null = null;
  /** Set once start() has begun: a reload asked for before that runs after the first load. */
  private begun = false;
  private reloadAgain = false;
  /** `superd reload` clients, each waiting for the next reload to start, then for its outcome. */
  private reloadWaiters: ((outcome: ReloadReport | SuperdError) => void)[] = [];
  private stopping = false;
  /** When the last reload ran and how many errors it had (for status). */
  private lastReload: { time: string; errors: number } | null = null;
  private startErrors = 0;
  private readonly startedAt = new Date().toISOString();
  private readonly logger: Logger;
  // Signal handlers keep no event loop alive; an idle superd with nothing bound must not exit.
  private readonly keepAlive = setInterval(() => undefined, 1 << 30);

  constructor(private options: DaemonOptions) {
    this.logger = options.context.logger;
  }

  /** The first load. Returns the fatal error when the services dir cannot be read at all. */
  async start(): Promise<ConfigError | null> {
    // A SIGHUP during the first load is one reload after it: a reload must
    // never diff against the empty set that the first load is filling.
    this.begun = true;
    const first = this.firstLoad();
    this.reloading = first.then(() => undefined).finally(() => this.reloadDone());
    return first;
  }

  private async firstLoad(): Promise<ConfigError | null> {
    const load = await loadServicesDir(this.options.servicesDir);
    if (load.fatal !== null) {
      clearInterval(this.keepAlive);
      return load.fatal;
    }
    const plan = planReload(new Map(), load);
    this.logProblems(plan.errors, load.files.flatMap((f) => f.warnings));
    this.startErrors = countProblems(plan.errors);
    await this.apply(plan);
    return null;
  }

  /** Everything is up: write the pid file and say so. */
  async ready(extra: LogFields): Promise<SuperdError | null> {
    const pidProblem = this.options.pidFile === null ? null : await writePidFile(this.options.pidFile, process.pid);
    if (pidProblem !== null) return pidProblem;
    this.options.lifecycle?.ready(this.statusLine());
    this.logger.log('info', 'started', {
      pid: process.pid,
      services: this.services.size,
      errors: this.startErrors,
      spawner: this.options.context.spawner.name,
      ...extra,
    });
    return null;
  }

  /** SIGHUP. Reloads never overlap; one asked for during a reload runs right after it. */
  requestReload(): void {
    if (this.stopping) return;
    if (this.reloading !== null || !this.begun) {
      this.reloadAgain = true;
      return;
    }
    this.reloading = this.reload().finally(() => this.reloadDone());
  }

  /** The outcome of the first reload that starts after this call (the control socket's `reload`). */
  nextReload(): Promise<ReloadReport | SuperdError> {
    if (this.stopping) return Promise.resolve(STOPPING);
    return new Promise((resolve) => this.reloadWaiters.push(resolve));
  }

  private reloadDone(): void {
    this.reloading = null;
    if (this.reloadAgain) {
      this.reloadAgain = false;
      this.requestReload();
    }
  }

  private statusLine(): string {
    return `serving ${this.services.size} services`;
  }

  private async reload(): Promise<void> {
    this.options.lifecycle?.reloading();
    try {
      await this.reloadServices();
    } finally {
      if (!this.stopping) this.options.lifecycle?.ready(this.statusLine());
    }
  }

  private async reloadServices(): Promise<void> {
    // Taken at the start: one who asks during this reload waits for the next.
    const waiters = this.reloadWaiters.splice(0);
    let outcome: ReloadReport | SuperdError = STOPPING;
    try {
      const current = new Map<string, ServiceDefinition>();
      for (const [name, rt] of this.services) current.set(name, rt.definition);
      const load = await loadServicesDir(this.options.servicesDir);
      if (this.stopping) return;
      const plan = planReload(current, load);
      this.logProblems(plan.errors, load.files.flatMap((f) => f.warnings));
      await this.apply(plan);
      const counts = { added: plan.add.length, changed: plan.change.length, removed: plan.remove.length, unchanged: plan.unchanged.length };
      const errors = countProblems(plan.errors);
      this.lastReload = { time: new Date().toISOString(), errors };
      this.logger.log(errors > 0 ? 'warn' : 'info', 'reload', { ...counts, errors });
      outcome = { pid: process.pid, ...counts, errors: plan.errors };
    } catch (err) {
      outcome = { code: 'reload_failed', message: `the reload failed: ${err instanceof Error ? err.message : String(err)}` };
      throw err;
    } finally {
      for (const w of waiters) w(outcome);
    }
  }

  /** One config_error per error and one config_warning per warning (a file shows at most 20 of each, then a count). */
  private logProblems(errors: ConfigError[], warnings: ConfigError[]): void {
    const log = (level: 'error' | 'warn', event: string, e: ConfigError): void =>
      this.logger.log(level, event, { service: e.service ?? undefined, file: e.file, line: e.line, kind: e.code, message: e.message });
    for (const e of errors) log('error', 'config_error', e);
    for (const w of warnings) log('warn', 'config_warning', w);
  }

  /** Removed first, so a port handed from one service to another is free to bind. */
  private async apply(plan: ReloadPlan): Promise<void> {
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
   * 30 s) the old one serves on. Only where the two addresses overlap
   * (127.0.0.1:P becoming 0.0.0.0:P, the same socket file), which the kernel
   * refuses in that order, does the old one close first.
   */
  private async rebind(old: ServiceRuntime, to: ServiceDefinition): Promise<boolean> {
    const next = this.createRuntime(to);
    this.services.set(to.name, next);
    this.draining.add(old);
    if (listenConflict(old.definition, to)) {
      this.retire(old);
      // A unix socket file must be gone before the new one is placed: the new
      // one's probe for a live program there would reach the old socket.
      await old.closed;
      return next.listen();
    }
    this.predecessors.set(next, old);
    return next.listen(() => {
      this.predecessors.delete(next);
      this.retire(old);
    });
  }

  private createRuntime(def: ServiceDefinition): ServiceRuntime {
    let stats = this.stats.get(def.name);
    if (stats === undefined) {
      stats = { accepted: 0, failed: 0, refused: {}, lastError: null };
      this.stats.set(def.name, stats);
    }
    return new ServiceRuntime(def, this.options.context, stats);
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

  snapshot(): DaemonStatus {
    return {
      pid: process.pid,
      startedAt: this.startedAt,
      servicesDir: this.options.servicesDir,
      lastReload: this.lastReload,
      services: [...this.services.values()].map((rt) => {
        const def = rt.definition;
        return {
          name: def.name,
          address: describeAddress(def),
          listening: rt.listening,
          mode: def.wait ? 'wait' : 'nowait',
          handler: def.handler.kind === 'server' ? def.handler.program : `builtin:${def.handler.name}`,
          running: rt.runningCount,
          queued: rt.queuedCount,
          accepted: rt.stats.accepted,
          failed: rt.stats.failed,
          refused: { ...rt.stats.refused },
          lastError: rt.stats.lastError,
        };
      }),
    };
  }

  /** SIGTERM/SIGINT: stop accepting, give handlers the grace period, then end them. */
  async shutdown(signal: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const w of this.reloadWaiters.splice(0)) w(STOPPING);
    this.options.lifecycle?.stopping();
    const all = [...this.services.values(), ...this.draining];
    // Handlers, and what exited handlers left running in their process groups.
    const running = (): number => all.reduce((n, rt) => n + rt.runningCount + rt.leftoverCount, 0);
    this.logger.log('info', 'shutdown', { signal, running: running(), grace_s: this.options.shutdownGraceSeconds });
    for (const rt of all) {
      rt.retire();
      rt.dropQueue();
    }
    // Unix socket files are removed before superd exits.
    await Promise.all(all.map((rt) => rt.closed));
    const deadline = Date.now() + this.options.shutdownGraceSeconds * 1000;
    await waitUntil(() => running() === 0, deadline);
    if (running() > 0) {
      for (const rt of all) rt.signalAll('SIGTERM');
      await waitUntil(() => running() === 0, Date.now() + KILL_AFTER_MS);
      for (const rt of all) rt.signalAll('SIGKILL');
      await waitUntil(() => running() === 0, Date.now() + 1000);
    }
    if (this.options.pidFile !== null) await removePidFile(this.options.pidFile, process.pid);
    clearInterval(this.keepAlive);
  }
}

const STOPPING: SuperdError = { code: 'stopping', message: 'superd is shutting down: no reload will run' };

function waitUntil(done: () => boolean, deadline: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (done() || Date.now() >= deadline) resolve();
      else setTimeout(check, 20);
    };
    check();
  });
}

/** Errors in all, counting those a file summarized as "and M more". */
function countProblems(errors: ConfigError[]): number {
  return errors.reduce((n, e) => n + problemCount(e), 0);
}
