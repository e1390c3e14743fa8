// The processes the harness has running (one daemon at most, loadgens), and how they are all
// killed on ^C, SIGTERM, SIGHUP, exit or an internal error: the loadgens first (so held handlers
// exit), then the daemon, each only after /proc/PID/exe says it is still what was started.
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { alive, exeOf } from './proc.js';

export interface Daemon {
  /** the daemon's pid (the child of `timeout`), once found */
  pid: number | null;
  /** the `timeout` wrapper's pid */
  tpid: number | undefined;
  exe: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  logFile: string;
}

export const runningLoadgens = new Set<ChildProcess>();
let current: Daemon | null = null;

export function setCurrent(d: Daemon): void { current = d; }
export function clearCurrent(d: Daemon): void { if (current === d) current = null; }

export function stopCurrentSync(): void {
  for (const lg of runningLoadgens) {
    try { lg.kill('SIGKILL'); } catch {}
  }
  const d = current;
  if (!d) return;
  for (const pid of [d.pid, d.tpid]) {
    if (!pid || !alive(pid)) continue;
    const exe = exeOf(pid);
    if (pid === d.pid ? exe === d.exe : exe && path.basename(exe) === 'timeout') {
      try { process.kill(pid, 'SIGKILL'); } catch {}
    }
  }
  current = null;
}

export function installCleanup(): void {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}: stopping\n`);
      stopCurrentSync();
      process.exit(130);
    });
  }
  process.on('exit', stopCurrentSync);
}
