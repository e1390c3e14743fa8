// The lines under a service's table: superd against the best other peer, p50 at C=1, daemon CPU
// against tcpserver, and the service's target from issue 11 (catnobody, echo), met or NOT met.
import { distinct, fmtMs, median } from './format.js';
import { CONCS } from './options.js';
import type { InstanceState, NumKey, Row } from './records.js';
import type { ServiceName } from './services.js';

/** The median of column k over a peer's runs of this service at concurrency c. */
type Med = (peer: string, c: number, k: NumKey) => number | null;

function bestPeerLine(med: Med, others: string[]): string {
  const parts = [];
  for (const c of CONCS) {
    const s = med('superd', c, 'conn_per_s');
    let best: { p: string; v: number } | null = null;
    for (const p of others) {
      const v = med(p, c, 'conn_per_s');
      if (v !== null && (best === null || v > best.v)) best = { p, v };
    }
    if (s !== null && best) parts.push(`C=${c}: **${(s / best.v).toFixed(2)}×** (${Math.round(s)} vs ${best.p} ${Math.round(best.v)})`);
  }
  return `superd / best peer by median conn/s — ${parts.join('; ')}.`;
}

function latencyAndCpuLines(med: Med): string[] {
  const out: string[] = [];
  if (CONCS.includes(1)) {
    const s = med('superd', 1, 'p50_ms'), t = med('tcpserver', 1, 'p50_ms');
    if (s !== null && t !== null) out.push(`superd p50 at C=1: **${fmtMs(s)} ms** vs tcpserver ${fmtMs(t)} ms (${(s / t).toFixed(2)}×, ${s >= t ? '+' : '−'}${Math.abs(s - t).toFixed(2)} ms).`, '');
  }
  // the daemon's own CPU per connection against tcpserver's
  const dparts = [];
  for (const c of CONCS) {
    const s = med('superd', c, 'daemon_cpu_us_per_conn'), t = med('tcpserver', c, 'daemon_cpu_us_per_conn');
    if (s !== null && t !== null && t > 0) dparts.push(`C=${c}: **${(s / t).toFixed(2)}×** (${Math.round(s)} vs ${Math.round(t)})`);
  }
  if (dparts.length) out.push(`superd / tcpserver daemon CPU µs/conn — ${dparts.join('; ')}.`, '');
  return out;
}

/** issue 11's targets for a `user = nobody` service, at C=8. */
function catnobodyTarget(svc: ServiceName, med: Med): string[] {
  const s = med('superd', 8, 'conn_per_s'), t = med('tcpserver', 8, 'conn_per_s');
  const sd = med('superd', 8, 'daemon_cpu_us_per_conn'), td = med('tcpserver', 8, 'daemon_cpu_us_per_conn');
  if (s !== null && t !== null && t > 0) {
    const r = s / t;
    let line = `${svc} at C=8: superd / tcpserver conn/s **${r.toFixed(2)}×** (${Math.round(s)} vs ${Math.round(t)}; target ≥ 0.40×: ${r >= 0.4 ? 'met' : 'NOT met'})`;
    if (sd !== null && td !== null && td > 0) {
      const q = sd / td;
      line += `; daemon CPU µs/conn **${q.toFixed(2)}×** (${Math.round(sd)} vs ${Math.round(td)}; target ≤ 3×: ${q <= 3 ? 'met' : 'NOT met'})`;
    }
    return [`${line}.`, ''];
  }
  if (!CONCS.includes(8)) return [`${svc}: the targets are at C=8, which this run did not measure (CONCS="${CONCS.join(' ')}").`, ''];
  return [];
}

/**
 * builtin echo: served inside the daemon, so superd should beat xinetd's internal echo clearly;
 * target at C=8 against xinetd (the only peer with a builtin on a free port).
 */
function echoTarget(med: Med): string[] {
  const s = med('superd', 8, 'conn_per_s'), x = med('xinetd', 8, 'conn_per_s');
  // server CPU (daemon + reaped children): xinetd forks a child per stream echo connection
  const sd = med('superd', 8, 'server_cpu_us_per_conn'), xd = med('xinetd', 8, 'server_cpu_us_per_conn');
  if (s !== null && x !== null && x > 0) {
    const r = s / x;
    return [`builtin echo at C=8: superd / xinetd conn/s **${r.toFixed(2)}×** (${Math.round(s)} vs ${Math.round(x)}; target ≥ 2.0×: ${r >= 2 ? 'met' : 'NOT met'})` +
      `${sd !== null && xd !== null ? `; server CPU µs/conn ${Math.round(sd)} vs ${Math.round(xd)}` : ''}.`, ''];
  }
  if (!CONCS.includes(8)) return [`builtin echo: the target is at C=8, which this run did not measure (CONCS="${CONCS.join(' ')}").`, ''];
  if (x === null) return ['builtin echo: the target is against xinetd, which this run did not measure at C=8.', ''];
  return ['builtin echo at C=8: superd has no figure (see its row above); target ≥ 2.0× xinetd: NOT met.', ''];
}

/** svc against `cat` at C=8 in the same run (superd's medians), or the lines saying why there is no comparison. */
function againstCat(svc: ServiceName, rows: Row[], what: string): { ratio: number; p: number; c: number; cpu: string } | string[] {
  const med = (service: ServiceName, k: NumKey): number | null => median(rows.filter((r) => r.service === service && r.peer === 'superd' && r.conc === 8).map((r) => r[k]));
  const p = med(svc, 'conn_per_s'), c = med('cat', 'conn_per_s');
  if (!CONCS.includes(8)) return [`${svc}: the ${what} is at C=8, which this run did not measure (CONCS="${CONCS.join(' ')}").`, ''];
  if (p === null || c === null || c <= 0) return [`${svc}: the ${what} compares it with cat at C=8; ${p === null ? svc : 'cat'} has no figure in this run (SERVICES="cat ${svc}").`, ''];
  const pd = med(svc, 'daemon_cpu_us_per_conn'), cd = med('cat', 'daemon_cpu_us_per_conn');
  return { ratio: p / c, p, c, cpu: pd !== null && cd !== null ? `; daemon CPU µs/conn ${Math.round(pd)} vs ${Math.round(cd)}` : '' };
}

/** The PROXY row (issue 27): reading the header may cost `cat` at most 10 % of its conn/s at C=8, and what it adds to the daemon's CPU. */
function proxyTarget(svc: ServiceName, rows: Row[]): string[] {
  const v = againstCat(svc, rows, 'target');
  if (Array.isArray(v)) return v;
  return [`${svc} at C=8: superd with / without the PROXY header conn/s **${v.ratio.toFixed(2)}×** (${Math.round(v.p)} vs cat ${Math.round(v.c)}; target ≥ 0.90×: ${v.ratio >= 0.9 ? 'met' : 'NOT met'})${v.cpu}.`, ''];
}

/** The settings row (issue 28): what five process settings (three trampolines) cost `cat` at C=8; a figure, no target. */
function settingsCost(rows: Row[]): string[] {
  const v = againstCat('catsettings', rows, 'comparison');
  if (Array.isArray(v)) return v;
  return [`catsettings at C=8: superd with / without five settings conn/s **${v.ratio.toFixed(2)}×** (${Math.round(v.p)} vs cat ${Math.round(v.c)})${v.cpu}.`, ''];
}

/** The TLS rows (issue 28): superd terminating TLS at least as fast as stunnel at C=8, and both daemons' CPU per connection. */
function tlsTarget(med: Med): string[] {
  if (!CONCS.includes(8)) return [`tls: the target is at C=8, which this run did not measure (CONCS="${CONCS.join(' ')}").`, ''];
  const s = med('superd', 8, 'conn_per_s'), t = med('stunnel', 8, 'conn_per_s');
  if (s === null || t === null || t <= 0) return ['tls: the target is against stunnel, which this run did not measure at C=8.', ''];
  const sd = med('superd', 8, 'daemon_cpu_us_per_conn'), td = med('stunnel', 8, 'daemon_cpu_us_per_conn');
  const cpu = sd !== null && td !== null ? `; daemon CPU µs/conn ${Math.round(sd)} vs ${Math.round(td)}` : '';
  const r = s / t;
  return [`tls at C=8: superd / stunnel conn/s **${r.toFixed(2)}×** (${Math.round(s)} vs ${Math.round(t)}; target ≥ 1.0×: ${r >= 1 ? 'met' : 'NOT met'})${cpu}.`, ''];
}

/** The lines under service svc's table (rows: its plain, not superseded runs). */
export function comparisons(svc: ServiceName, rows: Row[], states: InstanceState[], peersRun: string[]): string[] {
  const med: Med = (peer, c, k) => median(rows.filter((r) => r.service === svc && r.peer === peer && r.conc === c).map((r) => r[k]));
  const others = peersRun.filter((p) => p !== 'superd' && rows.some((r) => r.service === svc && r.peer === p));
  const superdRan = rows.some((r) => r.service === svc && r.peer === 'superd');
  if (superdRan && others.length) {
    const out = [bestPeerLine(med, others), '', ...latencyAndCpuLines(med)];
    if (svc === 'catnobody') out.push(...catnobodyTarget(svc, med));
    if (svc === 'echo') out.push(...echoTarget(med));
    if (svc === 'tls') out.push(...tlsTarget(med));
    return out;
  }
  if (superdRan) return svc === 'proxyv1' || svc === 'proxyv2' ? proxyTarget(svc, rows) : svc === 'catsettings' ? settingsCost(rows) : [];
  const out = ['superd: not measured in this run.', ''];
  // the target line stays in the summary, so a failed superd instance reads as a missed target
  const why = distinct(states.filter((s) => s.service === svc && s.peer === 'superd').map((s) => s.smoke));
  if (svc === 'echo' && why) out.push(`builtin echo at C=8: superd not measured (smoke test ${why}); target ≥ 2.0× xinetd: NOT met.`, '');
  return out;
}
