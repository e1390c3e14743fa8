// The report's tables: one section per service kind (a row per peer and concurrency, then the
// comparisons and targets of targets.ts), the held scenario (report-held.ts), the instances.
import { distinct, fmtMs, fmtRange, median, round } from './format.js';
import { KINDS } from './loadgen.js';
import { CONCS } from './options.js';
import type { InstanceState, NumKey, Row } from './records.js';
import { summarizeHeld } from './report-held.js';
import { HELD_SERVICE, isServiceName, SERVICES, type ServiceName } from './services.js';
import { comparisons } from './targets.js';

const SERVICE_HEAD = [
  '| peer | C | conn/s median (min–max) | p50 ms | p99 ms | max ms | errors/attempts | server CPU µs/conn | daemon CPU µs/conn | client CPU s | CPU busy % | other jobs CPU % | RSS idle kB | RSS after kB | fds idle | fds after | zombies after / +1 s | listen ovf |',
  '|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
];

/** One table row: peer at concurrency c, over the repetitions rr and the instances inst. */
function concRow(peer: string, c: number, rr: Row[], inst: InstanceState[]): string {
  const cps = rr.map((r) => r.conn_per_s);
  const col = (k: NumKey): (number | null)[] => rr.map((r) => r[k]);
  const sum = (k: NumKey): number => rr.reduce((a, r) => a + (r[k] ?? 0), 0);
  const errs = KINDS.filter((k) => k !== 'abandoned' && sum(k)).map((k) => `${k} ${sum(k)}`);
  const cut = sum('abandoned');
  const tl = rr.some((r) => r.time_limit_hit) ? ' ⏱' : '';
  return `| ${peer} | ${c} | **${Math.round(median(cps) ?? NaN)}** (${Math.round(Math.min(...cps))}–${Math.round(Math.max(...cps))})${tl} ` +
    `| ${fmtMs(median(col('p50_ms')))} | ${fmtMs(median(col('p99_ms')))} | ${fmtMs(Math.max(...rr.map((r) => r.max_ms ?? 0)))} ` +
    `| ${sum('errors') - cut}/${sum('attempts') - cut}${errs.length ? ` (${errs.join(', ')})` : ''}${cut ? ` (+${cut} cut off)` : ''} ` +
    `| ${median(col('server_cpu_us_per_conn')) ?? 'NA'} | ${median(col('daemon_cpu_us_per_conn')) ?? 'NA'} | ${round(median(col('client_cpu_s')), 2)} ` +
    `| ${median(col('cpu_busy_pct'))} | ${fmtRange(col('other_cpu_pct'))} | ${fmtRange(inst.map((s) => s.idle_rss_kb))} | ${fmtRange(col('rss_after_kb'))} ` +
    `| ${fmtRange(inst.map((s) => s.idle_fds))} | ${fmtRange(col('fds_after'))} ` +
    `| ${Math.max(...rr.map((r) => r.zombies_after))} / ${Math.max(...rr.map((r) => r.zombies_1s))} | ${sum('listen_ovf')} |`;
}

/** The table of one service kind. */
function serviceTable(svc: ServiceName, rows: Row[], states: InstanceState[], peersRun: string[]): string[] {
  const out = [`### service: ${SERVICES[svc].title}`, '', ...SERVICE_HEAD];
  for (const peer of peersRun) {
    const inst = states.filter((s) => s.service === svc && s.peer === peer);
    if (!inst.length) continue;
    const pr = rows.filter((r) => r.service === svc && r.peer === peer);
    if (!pr.length) {
      out.push(`| ${peer} | – | not measured: ${distinct(inst.map((s) => s.smoke))} |||||||||||||||`);
      continue;
    }
    for (const c of CONCS) {
      const rr = pr.filter((r) => r.conc === c);
      if (rr.length) out.push(concRow(peer, c, rr, inst));
    }
  }
  out.push('');
  return out;
}

/** One line per peer and service of the instance table (held-scenario instances included). */
function instanceTable(services: string[], allStates: InstanceState[], peersRun: string[]): string[] {
  const out = ['### daemon instances (one per peer, service and repetition)', ''];
  out.push('| peer | service | version | instances | smoke test | machine busy before start % | idle RSS kB | RSS at end kB | fds idle | fds at end | children at end | alive at end | connections | log lines (per connection) |');
  out.push('|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---|');
  for (const svc of services) {
    for (const peer of peersRun) {
      const inst = allStates.filter((s) => s.service === svc && s.peer === peer);
      if (!inst.length) continue;
      const conns = inst.reduce((a, s) => a + s.conns, 0);
      const lines = inst.reduce((a, s) => a + s.log_lines, 0);
      const bytes = inst.reduce((a, s) => a + s.log_bytes, 0);
      out.push(`| ${peer} | ${svc} | ${inst[0]?.version} | ${inst.length} | ${distinct(inst.map((s) => s.smoke))} ` +
        `| ${fmtRange(inst.map((s) => s.background_busy_pct))} | ${fmtRange(inst.map((s) => s.idle_rss_kb))} | ${fmtRange(inst.map((s) => s.end_rss_kb))} | ${fmtRange(inst.map((s) => s.idle_fds))} ` +
        `| ${fmtRange(inst.map((s) => s.end_fds))} | ${fmtRange(inst.map((s) => s.children_end))} | ${distinct(inst.map((s) => s.alive_end), '/')} ` +
        `| ${conns} | ${lines} (${conns ? (lines / conns).toFixed(2) : 'NA'}; ${(bytes / 1024).toFixed(0)} KiB) |`);
    }
  }
  out.push('');
  return out;
}

/** The report's tables (everything after the header), as markdown. */
export function summarize(allRows: Row[], allStates: InstanceState[], peersRun: string[]): string {
  const rows = allRows.filter((r) => !r.superseded && r.scenario === 'plain');
  const states = allStates.filter((s) => s.service !== HELD_SERVICE);
  const out: string[] = [];
  const bySvc = [...new Set<string>([...rows.map((r) => r.service), ...states.map((s) => s.service)])].filter(isServiceName);
  for (const svc of bySvc) {
    out.push(...serviceTable(svc, rows, states, peersRun));
    out.push(...comparisons(svc, rows, states, peersRun));
  }
  out.push(...summarizeHeld(allRows, allStates, peersRun));
  out.push(...instanceTable([...bySvc, HELD_SERVICE], allStates, peersRun));
  return out.join('\n');
}
