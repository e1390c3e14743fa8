// The two kinds of record a bench writes: a Row per load run (latest.tsv) and an InstanceState
// per daemon instance (latest-state.tsv). The TSV columns are the keys in the order the objects
// are built here and in measure.ts: keep it (columns added later go last).
import type { ServiceName } from './services.js';

export type Scenario = 'plain' | 'held0' | 'held';

export interface Row {
  rep: number; service: ServiceName; peer: string; conc: number; n: number; port: number;
  attempts: number; ok: number; errors: number;
  refused: number; reset: number; timeout: number; short: number; mismatch: number;
  other: number; abandoned: number; time_limit_hit: 0 | 1;
  elapsed_s: number; conn_per_s: number;
  p50_ms: number | null; p90_ms: number | null; p99_ms: number | null; max_ms: number | null; mean_ms: number | null;
  client_cpu_s: number;
  daemon_cpu_s: number | null; children_cpu_s: number | null;
  server_cpu_us_per_conn: number | null;
  cpu_busy_pct: number;
  other_cpu_pct: number | null;
  listen_ovf: number | null;
  rss_before_kb: number | null; rss_after_kb: number | null; fds_before: number | null; fds_after: number | null;
  children_after: number; zombies_after: number; zombies_1s: number;
  attempt: number; superseded: 0 | 1;
  daemon_cpu_us_per_conn: number | null;
  scenario: Scenario;
  children_before: number | null;
}

/** The numeric columns of a Row. */
export type NumKey = { [K in keyof Row]: Row[K] extends number | null ? K : never }[keyof Row];

export interface InstanceState {
  rep: number; service: string; peer: string; version: string; port: number; pid: number | null;
  background_busy_pct: number;
  smoke: string; idle_rss_kb: number | null; idle_fds: number | null; conns: number;
  end_rss_kb: number | null; end_fds: number | null;
  children_end: number | null; alive_end: 'yes' | 'no' | null; log_lines: number; log_bytes: number; dir: string;
  // held scenario only: the holder's figures, the handlers seen in /proc, release time
  hold_port: number | null; held_want: number | null; held_ok: number | null; held_errors: number | null;
  held_setup_s: number | null;
  held_children: number | null; held_dropped: number | null; release_s: number | null; children_after_release: number | null;
}

export interface NewState {
  rep: number; service: string; peer: string; version: string; port: number; bgBusy: number; dir: string;
  holdPort: number | null; heldWant: number | null;
}

export function newState(s: NewState): InstanceState {
  return {
    rep: s.rep, service: s.service, peer: s.peer, version: s.version, port: s.port, pid: null, background_busy_pct: s.bgBusy,
    smoke: 'not run', idle_rss_kb: null, idle_fds: null, conns: 0, end_rss_kb: null, end_fds: null,
    children_end: null, alive_end: null, log_lines: 0, log_bytes: 0, dir: s.dir,
    hold_port: s.holdPort, held_want: s.heldWant, held_ok: null, held_errors: null, held_setup_s: null,
    held_children: null, held_dropped: null, release_s: null, children_after_release: null,
  };
}
