// The harness's knobs, read from the environment once (bench/README.md, "Running").
import os from 'node:os';
import path from 'node:path';
import { BENCH } from './paths.js';

export function die(msg: string, code = 1): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(code);
}

/** A whitespace- or comma-separated list from the environment, or `def` when unset or empty. */
export function envList(name: string, def: string): string[] {
  const v = process.env[name];
  return (v !== undefined && v.trim() !== '' ? v : def).split(/[\s,]+/).filter(Boolean);
}

function envNum(name: string, def: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return def;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max) die(`${name}=${raw}: expected a number in ${min}..${max}`, 2);
  return v;
}

// RESULTS_DIR: write the tables elsewhere (e.g. for a quick look that must not replace
// bench/results/latest.*)
export const RESULTS = process.env.RESULTS_DIR ? path.resolve(process.env.RESULTS_DIR) : path.join(BENCH, 'results');

export const CONCS = envList('CONCS', '1 8 32').map((s) => {
  const c = Number(s);
  if (!Number.isInteger(c) || c < 1 || c > 10000) die(`CONCS: bad concurrency '${s}'`, 2);
  return c;
});
export const REPS = Math.trunc(envNum('REPS', 3, 1, 50));
export const N = Math.trunc(envNum('N', 5000, 1, 1e6));
export const TLIM = envNum('TLIM', 10, 1, 300);
export const WARMUP = Math.trunc(envNum('WARMUP', 200, 0, 1e5));
export const CONN_TIMEOUT = envNum('CONN_TIMEOUT', 5, 0.1, 60);
export const PEERS_ROOT = process.env.PEERS_ROOT || '/tmp/peers-root';
export const KEEP_TMP = process.env.KEEP_TMP === '1';
export const QUIET_PCT = envNum('QUIET_PCT', 15, 0, 100);
export const QUIET_MAX = envNum('QUIET_MAX', 20, 0, 600);
export const NCPU = os.cpus().length || 1;
export const NOISY_PCT = envNum('NOISY_PCT', 30, 0, 100);
export const RETRY_NOISY = Math.trunc(envNum('RETRY_NOISY', 1, 0, 5));
// The held scenario: C=HELD_C on `cat` without, then with HELD handlers of a second service
// (`hold`) running in the same daemon. HELD=0 skips it.
export const HELD = Math.trunc(envNum('HELD', 2000, 0, 20000));
export const HELD_C = Math.trunc(envNum('HELD_C', 8, 1, 10000));
// connections the holder has connecting (not yet echoed) at once
export const HOLD_CONNECTING = 32;
// bounded waits of the held scenario, seconds: all HELD handlers up (at ≥ 25 spawns/s), all gone
export const HOLD_SETUP_MAX = Math.ceil(30 + HELD / 25);
export const HOLD_RELEASE_MAX = Math.ceil(30 + HELD / 50);

export const UID = process.getuid?.() ?? -1;
export const IS_ROOT = UID === 0;
export const USER = IS_ROOT ? 'root' : os.userInfo().username;
export const LG_TIMEOUT_MS = (TLIM + CONN_TIMEOUT + 15) * 1000;
// hard lifetime of one daemon instance (smoke test, warm-up and one run per concurrency)
// (each run may be repeated RETRY_NOISY times after waiting up to QUIET_MAX s for quiet)
const RUN_MAX = (1 + RETRY_NOISY) * (TLIM + CONN_TIMEOUT + QUIET_MAX + 10);
export const DAEMON_LIFETIME = Math.ceil(60 + WARMUP / 20 + CONCS.length * RUN_MAX);
// the holder's hard lifetime (-t): setting up, one run (with its repeats) and a margin
export const HOLDER_LIFETIME = Math.ceil(HOLD_SETUP_MAX + RUN_MAX + 30);
// a held-scenario daemon: smoke test, warm-up, the run without, the holder's life, the release
export const HELD_DAEMON_LIFETIME = Math.ceil(60 + WARMUP / 20 + RUN_MAX + HOLDER_LIFETIME + HOLD_RELEASE_MAX + 20);

/** The parameters line of the report, as the environment set them. */
export function parametersText(): string {
  return `CONCS="${CONCS.join(' ')}" REPS=${REPS} N=${N} TLIM=${TLIM} WARMUP=${WARMUP} CONN_TIMEOUT=${CONN_TIMEOUT} ` +
    `QUIET_PCT=${QUIET_PCT} QUIET_MAX=${QUIET_MAX} NOISY_PCT=${NOISY_PCT} RETRY_NOISY=${RETRY_NOISY}`;
}
