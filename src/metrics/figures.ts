// The figures `--metrics` serves (SPEC §6), in one registry of prom-client's
// (names, HELP lines, types, labels). They come from two places, each the
// one that already has them exact:
//
// - what `superd status` keeps (service/types.ts ServiceStats, the running
//   and queued counts) is read from the daemon's snapshot at scrape time: the
//   metrics are then status's figures by construction, and keeping them
//   costs nothing more than status already does;
// - what status does not keep is counted from the log events (SPEC §6 names,
//   which parsers rely on, so they are stable) as the logger is handed them,
//   before level filtering (tap.ts): the metrics then match the log by
//   construction, whatever --log-level leaves out.
//
// A counter from the snapshot follows the service as status does: kept
// across reloads and address changes, gone when the service is removed,
// from zero when it comes back (Prometheus's rate() takes such resets).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DaemonStatus } from '../control/status.js';
import type { FieldValue, LogFields } from '../log/types.js';
import { registerProcessMetrics } from './process.js';

/** What a handler's end is counted as (superd_handlers_exited_total's `outcome`). */
export type ExitOutcome = 'exit_0' | 'exit_nonzero' | 'signal';

/** Upper bounds in seconds, 1 ms to 1 h: an echo's milliseconds and an interactive session's hour alike. */
export const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600];

/** What scrapes read from the rest of superd. */
export interface ScrapeSources {
  /** The same snapshot `superd status` prints. */
  status(): DaemonStatus;
  /** Log lines dropped since start (log/sink.ts). */
  droppedLogLines(): number;
}

export function exitOutcome(code: FieldValue, signal: FieldValue): ExitOutcome {
  if (typeof signal === 'string') return 'signal';
  return code === 0 ? 'exit_0' : 'exit_nonzero';
}

export class Figures {
  readonly registry = new Registry();
  // From the snapshot, at scrape time.
  private readonly accepted = this.counter('superd_connections_accepted_total', 'Connections (and udp requests) a service took: a handler started, or a builtin served them.', ['service']);
  private readonly refused = this.counter('superd_connections_refused_total', 'Connections (and datagrams) refused before a handler started, by reason (the refused log line\'s reason).', ['service', 'reason']);
  private readonly spawnFailures = this.counter('superd_spawn_failures_total', 'Handlers that could not be started (spawn_failed, and those lost to fd exhaustion); the connection was closed.', ['service']);
  private readonly running = this.gauge('superd_handlers_running', 'Handlers running now (and being started).', ['service']);
  private readonly queued = this.gauge('superd_connections_queued', 'Connections waiting for a handler slot (max_children) now.', ['service']);
  private readonly dropped = this.counter('superd_log_lines_dropped_total', 'Log lines dropped: the log could not be written, or could not keep up.', []);
  // From the log events, as they happen.
  private readonly exited = this.counter('superd_handlers_exited_total', 'Handlers (and tcp builtins) that ended, by outcome: exit_0, exit_nonzero, signal.', ['service', 'outcome']);
  private readonly duration = new Histogram({
    name: 'superd_handler_duration_seconds',
    help: 'How long handlers (and tcp builtins) ran, from start to exit.',
    labelNames: ['service'],
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  private readonly reloads = this.counter('superd_reloads_total', 'Reloads (SIGHUP, --watch, superd reload), by outcome: ok, or errors (some service file had errors).', ['outcome']);
  private readonly configErrors = this.counter('superd_config_errors_total', 'Errors found in service files, at start and at each reload.', []);
  private readonly bindFailures = this.counter('superd_bind_failures_total', 'Failed binds of a service\'s socket (each is retried every 30 s).', ['service']);
  private readonly fdEpisodes = this.counter('superd_fd_exhaustion_episodes_total', 'Times superd ran out of file descriptors (fd_exhausted).', []);

  constructor() {
    // Series without labels show 0 from the start rather than nothing.
    for (const c of [this.dropped, this.configErrors, this.fdEpisodes]) c.inc(0);
    for (const outcome of ['ok', 'errors']) this.reloads.inc({ outcome }, 0);
    registerProcessMetrics(this.registry);
  }

  private counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  /**
   * One log event (tap.ts). O(1), and only for the few events counted here:
   * it runs on the accept path (an `exited` per connection).
   */
  observe(event: string, fields: LogFields): void {
    switch (event) {
      case 'exited': {
        const service = String(fields.service);
        this.exited.inc({ service, outcome: exitOutcome(fields.code, fields.signal) });
        this.duration.observe({ service }, Number(fields.duration_ms ?? 0) / 1000);
        return;
      }
      case 'reload':
        this.reloads.inc({ outcome: Number(fields.errors) > 0 ? 'errors' : 'ok' });
        this.configErrors.inc(Number(fields.errors) || 0);
        return;
      case 'started':
      case 'upgraded':
        // The first load's errors (its summary line is `started`, or `upgraded` in a new image, not `reload`).
        this.configErrors.inc(Number(fields.errors) || 0);
        return;
      case 'bind_failed':
        this.bindFailures.inc({ service: String(fields.service) });
        return;
      case 'fd_exhausted':
        this.fdEpisodes.inc();
        return;
    }
  }

  /** The scrape-time figures, from one snapshot, then the text: Prometheus's exposition format. */
  async render(sources: ScrapeSources): Promise<string> {
    const status = sources.status();
    for (const m of [this.accepted, this.refused, this.spawnFailures, this.running, this.queued]) m.reset();
    for (const s of status.services) {
      const service = s.name;
      this.accepted.inc({ service }, s.accepted);
      this.spawnFailures.inc({ service }, s.failed);
      for (const [reason, n] of Object.entries(s.refused)) this.refused.inc({ service, reason }, n);
      this.running.set({ service }, s.running);
      this.queued.set({ service }, s.queued);
    }
    this.dropped.reset();
    this.dropped.inc(sources.droppedLogLines());
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
