// One load run at concurrency C against a running daemon, with /proc readings around it: a Row.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Started } from './daemon.js';
import { fmtMs, round } from './format.js';
import { errorText, loadgen, type LoadgenResult } from './loadgen.js';
import { N, NCPU, NOISY_PCT, QUIET_MAX, QUIET_PCT, RETRY_NOISY } from './options.js';
import { alive, CLK_TCK, cpuTimes, listenOverflows, procChildren, psChildren, snapshot, busyPct, waitQuiet, type CpuTimes, type Snapshot } from './proc.js';
import type { InstanceState, Row, Scenario } from './records.js';
import type { ServiceKind, ServiceName } from './services.js';

/** What a run needs to know about its instance. */
export interface RunContext {
  d: Started;
  port: number;
  svc: ServiceKind;
  svcName: ServiceName;
  peer: string;
  rep: number;
  st: InstanceState;
  tag: string;
  rows: Row[];
}

/** The readings taken around one loadgen run. */
interface Readings {
  lg: LoadgenResult;
  before: Snapshot; after: Snapshot;
  cpu0: CpuTimes; cpu1: CpuTimes;
  ovf0: number | null; ovf1: number | null;
  z0: { total: number; zombies: number }; z1: { total: number; zombies: number };
  kidsBefore: number | null;
}

async function readAround(m: RunContext, c: number): Promise<Readings> {
  const pid = m.d.pid;
  const kidsBefore = procChildren(pid).live;
  const before = snapshot(pid);
  const cpu0 = cpuTimes();
  const ovf0 = listenOverflows();
  const lg = await loadgen(m.port, c, N, m.svc.loadgenArgs);
  const cpu1 = cpuTimes();
  const ovf1 = listenOverflows();
  const after = snapshot(pid);
  const z0 = psChildren(pid);
  await sleep(1000);
  const z1 = psChildren(pid);
  return { lg, before, after, cpu0, cpu1, ovf0, ovf1, z0, z1, kidsBefore };
}

function makeRow(m: RunContext, c: number, scenario: Scenario, attempt: number, r: Readings): Row {
  const { lg, before, after, cpu0, cpu1 } = r;
  const dSelf = after.stat && before.stat ? after.stat.self - before.stat.self : null;
  const dKids = after.stat && before.stat ? after.stat.children - before.stat.children : null;
  return {
    rep: m.rep, service: m.svcName, peer: m.peer, conc: c, n: N, port: m.port,
    attempts: lg.attempts, ok: lg.ok, errors: lg.errors,
    refused: lg.refused, reset: lg.reset, timeout: lg.timeout, short: lg.short, mismatch: lg.mismatch,
    other: lg.other, abandoned: lg.abandoned, time_limit_hit: lg.time_limit_hit ? 1 : 0,
    elapsed_s: lg.elapsed_s, conn_per_s: lg.conn_per_s,
    p50_ms: lg.p50_ms, p90_ms: lg.p90_ms, p99_ms: lg.p99_ms, max_ms: lg.max_ms, mean_ms: lg.mean_ms,
    client_cpu_s: lg.cpu_s,
    daemon_cpu_s: round(dSelf, 3), children_cpu_s: round(dKids, 3),
    server_cpu_us_per_conn: dSelf !== null && dKids !== null && lg.ok > 0 ? Math.round(((dSelf + dKids) * 1e6) / lg.ok) : null,
    cpu_busy_pct: busyPct(cpu0, cpu1),
    // busy CPU time of the whole machine not spent by the daemon, its children or loadgen:
    // other jobs on the machine (and a little kernel/harness work), in % of all cores
    other_cpu_pct: dSelf === null || dKids === null ? null : Math.max(0, Math.round((100 * (((cpu1.total - cpu1.idle) - (cpu0.total - cpu0.idle)) / CLK_TCK - dSelf - dKids - lg.cpu_s)) / (lg.elapsed_s * NCPU))),
    listen_ovf: r.ovf0 !== null && r.ovf1 !== null ? r.ovf1 - r.ovf0 : null,
    rss_before_kb: before.rss, rss_after_kb: after.rss, fds_before: before.fds, fds_after: after.fds,
    children_after: r.z0.total, zombies_after: r.z0.zombies, zombies_1s: r.z1.zombies,
    attempt, superseded: 0,
    // added columns (the ones above keep their names and places):
    // the daemon process alone (all its threads; not the children it reaped)
    daemon_cpu_us_per_conn: dSelf !== null && lg.ok > 0 ? Math.round((dSelf * 1e6) / lg.ok) : null,
    // plain = the per-service runs; held0 / held = the held scenario without / with HELD handlers
    scenario,
    // live children of the daemon in /proc just before the run (the held handlers)
    children_before: r.kidsBefore,
  };
}

function logRow(m: RunContext, row: Row, r: Readings): void {
  const { lg } = r;
  const what = row.scenario === 'held' ? ` with ${r.kidsBefore} held` : row.scenario === 'held0' ? ' (none held)' : '';
  process.stderr.write(`${m.tag} C=${row.conc}${what}: ${Math.round(lg.conn_per_s)} conn/s, p50 ${fmtMs(lg.p50_ms)} p99 ${fmtMs(lg.p99_ms)} ms, ` +
    `errors ${lg.errors}/${lg.attempts}${errorText(lg)}${lg.time_limit_hit ? ' [time limit]' : ''}, ` +
    `server ${row.server_cpu_us_per_conn ?? '?'} µs/conn, daemon ${row.daemon_cpu_us_per_conn ?? '?'} µs/conn, ` +
    `other CPU ${row.other_cpu_pct} %, rss ${r.after.rss} kB, fds ${r.after.fds}, zombies ${r.z0.zombies}/${r.z1.zombies}\n`);
}

/**
 * One load run at concurrency c (run again, up to RETRY_NOISY times, when other jobs took more than
 * NOISY_PCT % of the CPU); pushes a row per run and returns the last, or null when the daemon is gone.
 */
export async function measure(m: RunContext, c: number, scenario: Scenario): Promise<Row | null> {
  for (let attempt = 0; ; attempt++) {
    if (!alive(m.d.pid)) {
      process.stderr.write(`${m.tag}: daemon is gone before C=${c}\n`);
      return null;
    }
    const r = await readAround(m, c);
    m.st.conns += r.lg.attempts;
    const row = makeRow(m, c, scenario, attempt, r);
    m.rows.push(row);
    logRow(m, row, r);
    // Another job took a large share of the machine during this run: measure it again (once by
    // default). The superseded row stays in latest.tsv but not in the tables.
    if (row.other_cpu_pct !== null && row.other_cpu_pct > NOISY_PCT && attempt < RETRY_NOISY) {
      row.superseded = 1;
      process.stderr.write(`${m.tag} C=${c}: other jobs used ${row.other_cpu_pct} % of the CPU; running it again\n`);
      await waitQuietNow();
      continue;
    }
    return row;
  }
}

/** Wait up to QUIET_MAX s for the machine to be at most QUIET_PCT % busy; the last busy %. */
export function waitQuietNow(): Promise<number> {
  return waitQuiet(QUIET_PCT, QUIET_MAX);
}
