// superd's life: the first load, ready, reloads, shutdown. Signal handlers
// only record what was asked; the work (reload, shutdown) runs from the event
// loop, one at a time, like OpenBSD inetd's flag-and-loop design. Each reload
// loads the services dir (config/load.ts), plans against what runs
// (config/plan.ts) and applies the plan to the running services
// (service/set.ts).
import { loadServicesDir } from './config/load.js';
import { planReload } from './config/plan.js';
import { describeAddress } from './config/types.js';
import type { DaemonStatus, ReloadReport } from './control/status.js';
import type { ConfigError, SuperdError } from './errors.js';
import type { LogFields, Logger } from './log/types.js';
import { removePidFile, writePidFile } from './pidfile.js';
import { problemCount } from './config/problems.js';
import type { Lifecycle } from './notify.js';
import { inheritedSockets } from './listen/inherited.js';
import { ServiceSet } from './service/set.js';
import type { RuntimeContext } from './service/types.js';
import { errorMessage } from './errors.js';

export interface DaemonOptions {
  servicesDir: string;
  pidFile: string | null;
  shutdownGraceSeconds: number;
  context: RuntimeContext;
  /** Told when superd is ready, reloading and stopping (systemd's notify protocol). */
  lifecycle?: Lifecycle;
  /** An upgrade in place (src/upgrade/): when the daemon it continues started, and its last reload. */
  restored?: { startedAt: string; lastReload: { time: string; errors: number } | null };
}

export class Daemon {
  private readonly services: ServiceSet;
  private reloading: Promise<void> | null = null;
  /** Set once start() has begun: a reload asked for before that runs after the first load. */
  private begun = false;
  private reloadAgain = false;
  /** `superd reload` clients, each waiting for the next reload to start, then for its outcome. */
  private reloadWaiters: ((outcome: ReloadReport | SuperdError) => void)[] = [];
  private stopping = false;
  /** When the last reload ran and how many errors it had (for status). */
  private lastReload: { time: string; errors: number } | null;
  private startErrors = 0;
  private readonly startedAt: string;
  /** An upgrade is being prepared: a reload asked for meanwhile waits (it runs if the upgrade fails). */
  private upgrading = false;
  private readonly logger: Logger;
  // Signal handlers keep no event loop alive; an idle superd with nothing bound must not exit.
  private readonly keepAlive = setInterval(() => undefined, 1 << 30);

  constructor(private options: DaemonOptions) {
    this.logger = options.context.logger;
    this.services = new ServiceSet(options.context);
    this.startedAt = options.restored?.startedAt ?? new Date().toISOString();
    this.lastReload = options.restored?.lastReload ?? null;
  }

  /** What an upgrade in place (src/upgrade/) passes on and holds. */
  get forUpgrade(): { services: ServiceSet; startedAt: string; lastReload: { time: string; errors: number } | null; stopping: boolean } {
    return { services: this.services, startedAt: this.startedAt, lastReload: this.lastReload, stopping: this.stopping };
  }

  /** An upgrade begins: no reload starts until done(); `idle` resolves once one running now is over. */
  holdReloads(): { idle: Promise<void>; done: () => void } {
    this.upgrading = true;
    const idle = this.reloading ?? Promise.resolve();
    return {
      idle: idle.catch(() => undefined),
      done: () => {
        this.upgrading = false;
        if (this.reloadAgain && this.reloading === null) {
          this.reloadAgain = false;
          this.requestReload();
        }
      },
    };
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
    // Sockets systemd passed that no service adopts are closed now (SPEC §4).
    await inheritedSockets.keepFor(plan.add, this.logger);
    this.startErrors = countProblems(plan.errors);
    await this.services.apply(plan);
    return null;
  }

  /** Everything is up: write the pid file and say so (`started`, or `upgraded` after an upgrade in place). */
  async ready(extra: LogFields, event = 'started'): Promise<SuperdError | null> {
    const pidProblem = this.options.pidFile === null ? null : await writePidFile(this.options.pidFile, process.pid);
    if (pidProblem !== null) return pidProblem;
    this.options.lifecycle?.ready(this.statusLine());
    this.logger.log('info', event, {
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
    if (this.reloading !== null || !this.begun || this.upgrading) {
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
      const current = this.services.definitions();
      const load = await loadServicesDir(this.options.servicesDir);
      if (this.stopping) return;
      const plan = planReload(current, load);
      this.logProblems(plan.errors, load.files.flatMap((f) => f.warnings));
      await this.services.apply(plan);
      const counts = { added: plan.add.length, changed: plan.change.length, removed: plan.remove.length, unchanged: plan.unchanged.length };
      const errors = countProblems(plan.errors);
      this.lastReload = { time: new Date().toISOString(), errors };
      this.logger.log(errors > 0 ? 'warn' : 'info', 'reload', { ...counts, errors });
      outcome = { pid: process.pid, ...counts, errors: plan.errors };
    } catch (err) {
      outcome = { code: 'reload_failed', message: `the reload failed: ${errorMessage(err)}` };
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

  snapshot(): DaemonStatus {
    return {
      pid: process.pid,
      startedAt: this.startedAt,
      servicesDir: this.options.servicesDir,
      lastReload: this.lastReload,
      services: this.services.active().map((rt) => {
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
    this.logger.log('info', 'shutdown', { signal, running: this.services.running(), grace_s: this.options.shutdownGraceSeconds });
    await this.services.stop(this.options.shutdownGraceSeconds);
    if (this.options.pidFile !== null) await removePidFile(this.options.pidFile, process.pid);
    clearInterval(this.keepAlive);
  }
}

const STOPPING: SuperdError = { code: 'stopping', message: 'superd is shutting down: no reload will run' };

/** Errors in all, counting those a file summarized as "and M more". */
function countProblems(errors: ConfigError[]): number {
  return errors.reduce((n, e) => n + problemCount(e), 0);
}
