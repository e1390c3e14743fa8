// One load run: bench/.build/loadgen against 127.0.0.1:PORT, its JSON line parsed.
import { execFile } from 'node:child_process';
import { runningLoadgens } from './children.js';
import { CONN_TIMEOUT, LG_TIMEOUT_MS, TLIM } from './options.js';
import { LOADGEN } from './paths.js';

/** loadgen's error counts by kind (`abandoned`: in flight when the time limit hit, "cut off"). */
export interface ErrorKinds {
  refused: number;
  reset: number;
  timeout: number;
  short: number;
  mismatch: number;
  other: number;
  abandoned: number;
}
export const KINDS = ['refused', 'reset', 'timeout', 'short', 'mismatch', 'other', 'abandoned'] as const;

/** loadgen -J's line for a run (latencies are null when no connection succeeded). */
export interface LoadgenResult extends ErrorKinds {
  attempts: number;
  ok: number;
  errors: number;
  time_limit_hit: boolean;
  elapsed_s: number;
  conn_per_s: number;
  p50_ms: number | null;
  p90_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  mean_ms: number | null;
  cpu_s: number;
}

/** loadgen -H -J's `held` and `released` events. */
export interface HolderEvent extends ErrorKinds {
  event: string;
  attempts: number;
  held: number;
  dropped: number;
  errors: number;
  elapsed_s: number;
}

/** ` (refused 3, reset 1)` for the kinds that occurred, or ''. */
export function errorText(r: ErrorKinds): string {
  const parts = KINDS.filter((k) => r[k]).map((k) => `${k} ${r[k]}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

export function loadgen(port: number, c: number, n: number, extra: string[]): Promise<LoadgenResult> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-c', String(c), '-n', String(n), '-t', String(TLIM),
    '-T', String(CONN_TIMEOUT), ...extra, '-q', '-J'];
  return new Promise((resolve, reject) => {
    const child = execFile(LOADGEN, args, { timeout: LG_TIMEOUT_MS, killSignal: 'SIGKILL', encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`loadgen ${args.join(' ')}: ${err.message} ${stderr}`));
      try { resolve(JSON.parse(stdout) as LoadgenResult); } catch { reject(new Error(`loadgen output: ${stdout} ${stderr}`)); }
    });
    runningLoadgens.add(child);
    child.on('exit', () => runningLoadgens.delete(child));
  });
}
