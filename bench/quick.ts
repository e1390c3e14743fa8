// What the small benchmarks (flood.ts, refused.ts, shutdown.ts, soak.ts) share: one
// superd on a temp services dir, logging to a file as users run it, and
// loadgen at C=1 against one of its ports.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadgenResult } from './loadgen.js';
import { LOADGEN, ROOT } from './paths.js';

export interface QuickSuperd {
  readonly pid: number;
  readonly log: string;
  /** Resolves with when it exited (performance.now()). */
  readonly exited: Promise<number>;
  /** Whether a line containing `what` is in its log within 10 s. */
  logged(what: string): Promise<boolean>;
  /** SIGTERM, wait for the exit, remove the temp dir. */
  stop(): Promise<void>;
}

/** Starts superd on `services` (file name → text) and waits for its `started` line. */
export async function startSuperd(services: Record<string, string>, args: string[] = []): Promise<QuickSuperd> {
  const dir = mkdtempSync(join(tmpdir(), 'superd-quick-'));
  chmodSync(dir, 0o755);
  for (const [file, text] of Object.entries(services)) writeFileSync(join(dir, file), text, { mode: 0o644 });
  const log = join(dir, 'log');
  const d = spawn(process.execPath, [join(ROOT, 'bin', 'superd'), 'run', '-d', dir, '--log-file', log, '--control-socket', join(dir, 'c.sock'), ...args], { stdio: 'ignore' });
  const exited = new Promise<number>((resolve) => d.on('exit', () => resolve(performance.now())));
  const logged = async (what: string): Promise<boolean> => {
    for (let i = 0; i < 100; i++) {
      try {
        if (readFileSync(log, 'utf8').includes(what)) return true;
      } catch {
        // Not written yet.
      }
      await sleep(100);
    }
    return false;
  };
  const stop = async (): Promise<void> => {
    d.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  if (!(await logged(' started '))) {
    await stop();
    throw new Error('superd did not start within 10 s');
  }
  return { pid: d.pid ?? -1, log, exited, logged, stop };
}

/** loadgen at C=1 on `port` for up to `seconds` (or n connections): its figures. */
export function loadC1(port: number, seconds: number, n = 100000): LoadgenResult {
  return JSON.parse(execFileSync(LOADGEN, ['-p', String(port), '-c', '1', '-n', String(n), '-t', String(seconds), '-s', '-E', '-V', '-q', '-J'], { encoding: 'utf8' })) as LoadgenResult;
}

export const fmtMs = (v: number | null): string => (v === null ? '–' : v.toFixed(1));

/** Errors, leaving out the connections cut off by the time limit (not the server's doing). */
export const errorsOf = (r: LoadgenResult): number => r.errors - (r.abandoned ?? 0);

/** A table row of loadgen's latency figures. */
export function latencyRow(label: string, r: LoadgenResult): string {
  return `| ${label} | ${r.ok} | ${errorsOf(r)} | ${fmtMs(r.p50_ms)} | ${fmtMs(r.p90_ms)} | ${fmtMs(r.p99_ms)} | ${fmtMs(r.max_ms)} |`;
}
