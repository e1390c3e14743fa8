// The held scenario's section of the report: C=HELD_C on `cat` without and with HELD `hold`
// handlers running, per peer, and superd's with/without target.
import { distinct, fmtMs, fmtRange, median } from './format.js';
import { HELD, HELD_C } from './options.js';
import type { InstanceState, NumKey, Row } from './records.js';
import { HELD_SERVICE } from './services.js';

const HEAD = [
  '| peer | handlers running during "with" | conn/s without | conn/s with | with / without | p50 ms without / with | p99 ms without / with | daemon CPU µs/conn without / with | server CPU µs/conn without / with | errors/attempts without / with | RSS kB without / with | fds without / with | hold set-up s | release s (children left) |',
  '|---|---:|---|---|---|---|---|---|---|---|---|---|---:|---|',
];

function intro(): string[] {
  return [`### throughput on \`cat\` while ${HELD} handlers of another service run (C=${HELD_C})`, '',
    `One daemon serving \`cat\` and \`hold\` (also /bin/cat); after the warm-up, C=${HELD_C} on \`cat\` ("without"), then ` +
    `${HELD} connections to \`hold\` opened and kept open, each echoed once (so ${HELD} handlers run), C=${HELD_C} on \`cat\` again ("with"), ` +
    'then the held connections are closed. "with / without" is the median of the per-repetition ratios (min–max).', ''];
}

/** with / without conn/s per repetition. */
function ratiosOf(w0: Row[], w1: Row[]): number[] {
  const ratios = [];
  for (const r1 of w1) {
    const r0 = w0.find((r) => r.rep === r1.rep);
    if (r0 && r0.conn_per_s > 0) ratios.push(r1.conn_per_s / r0.conn_per_s);
  }
  return ratios;
}

const cps = (rr: Row[]): string => rr.length
  ? `**${Math.round(median(rr.map((r) => r.conn_per_s)) ?? NaN)}** (${fmtRange(rr.map((r) => Math.round(r.conn_per_s)))})${rr.some((r) => r.time_limit_hit) ? ' ⏱' : ''}`
  : 'NA';

const errs = (rr: Row[]): string => {
  const cut = rr.reduce((a, r) => a + r.abandoned, 0);
  return `${rr.reduce((a, r) => a + r.errors, 0) - cut}/${rr.reduce((a, r) => a + r.attempts, 0) - cut}`;
};

/** A peer's row: w0 the runs without, w1 with, inst its instances, ratio the median of ratios. */
function peerRow(peer: string, w0: Row[], w1: Row[], inst: InstanceState[], ratios: number[]): string {
  const ratio = median(ratios);
  const orNA = (x: number | null): string => (x === null ? 'NA' : String(x));
  const two = (k: NumKey, f: (x: number | null) => string): string =>
    `${w0.length ? f(median(w0.map((r) => r[k]))) : 'NA'} / ${f(median(w1.map((r) => r[k])))}`;
  return `| ${peer} | ${fmtRange(w1.map((r) => r.children_before))} | ${cps(w0)} | ${cps(w1)} ` +
    `| ${ratio === null ? 'NA' : `**${ratio.toFixed(2)}×** (${fmtRange(ratios, (x) => x.toFixed(2))})`} ` +
    `| ${two('p50_ms', fmtMs)} | ${two('p99_ms', fmtMs)} | ${two('daemon_cpu_us_per_conn', orNA)} | ${two('server_cpu_us_per_conn', orNA)} ` +
    `| ${w0.length ? errs(w0) : 'NA'} / ${errs(w1)} | ${fmtRange(w0.map((r) => r.rss_after_kb))} / ${fmtRange(w1.map((r) => r.rss_after_kb))} ` +
    `| ${fmtRange(w0.map((r) => r.fds_after))} / ${fmtRange(w1.map((r) => r.fds_after))} ` +
    `| ${fmtRange(inst.map((s) => s.held_setup_s))} | ${fmtRange(inst.map((s) => s.release_s))} (${fmtRange(inst.map((s) => s.children_after_release))}) |`;
}

/** The held scenario's section, or nothing when it did not run. */
export function summarizeHeld(allRows: Row[], allStates: InstanceState[], peersRun: string[]): string[] {
  const rows = allRows.filter((r) => !r.superseded && (r.scenario === 'held0' || r.scenario === 'held'));
  const states = allStates.filter((s) => s.service === HELD_SERVICE);
  if (!states.length) return [];
  const out = [...intro(), ...HEAD];
  const verdicts = [];
  for (const peer of peersRun) {
    const inst = states.filter((s) => s.peer === peer);
    if (!inst.length) continue;
    const w0 = rows.filter((r) => r.peer === peer && r.scenario === 'held0');
    const w1 = rows.filter((r) => r.peer === peer && r.scenario === 'held');
    if (!w1.length) {
      out.push(`| ${peer} | – | not measured: ${distinct(inst.map((s) => s.smoke))} ||||||||||||`);
      continue;
    }
    const ratios = ratiosOf(w0, w1);
    out.push(peerRow(peer, w0, w1, inst, ratios));
    const ratio = median(ratios);
    if (peer === 'superd' && ratio !== null) {
      const d0 = median(w0.map((r) => r.daemon_cpu_us_per_conn)), d1 = median(w1.map((r) => r.daemon_cpu_us_per_conn));
      verdicts.push(`superd conn/s with ${HELD} held / without: **${ratio.toFixed(2)}×** (target ≥ 0.90: ${ratio >= 0.9 ? 'met' : 'NOT met'}); ` +
        `daemon CPU µs/conn ${d0 ?? 'NA'} without, ${d1 ?? 'NA'} with.`);
    }
  }
  out.push('', ...verdicts.flatMap((v) => [v, '']));
  const short = states.filter((s) => s.held_ok !== null && s.held_ok < HELD);
  if (short.length) out.push(`Held fewer than ${HELD}: ${short.map((s) => `${s.peer} rep ${s.rep}: ${s.held_ok} (${s.held_errors} errors)`).join('; ')}.`, '');
  return out;
}
