// A daemon's life: started under `timeout` (bounds its life even if the harness dies), found by
// its executable among the wrapper's children, stopped by its recorded pid (SIGTERM, SIGKILL
// after 5 s) after /proc/PID/exe says it still is that binary.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { clearCurrent, setCurrent, type Daemon } from './children.js';
import { which } from './host.js';
import { DAEMON_LIFETIME } from './options.js';
import { alive, childrenOf, exeOf } from './proc.js';

export interface StartOptions {
  argv: string[];
  exe: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
  lifetime?: number;
}

/** A daemon whose pid is known. */
export type Started = Daemon & { pid: number };

export async function startDaemon({ argv, exe, cwd, env, logFile, lifetime = DAEMON_LIFETIME }: StartOptions): Promise<Started> {
  const fd = fs.openSync(logFile, 'a');
  // `timeout` bounds the daemon's life even if this script dies; it becomes its own process
  // group, so a terminal's ^C reaches only us and we stop the daemon ourselves.
  const child = spawn('timeout', ['-k', '5', String(lifetime), ...argv], { cwd, env, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const exited: Daemon['exited'] = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  child.on('error', () => {});
  const d: Daemon = { pid: null, tpid: child.pid, exe, child, exited, logFile };
  setCurrent(d);
  const t0 = Date.now();
  while (Date.now() - t0 < 5000 && child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    for (const k of childrenOf(child.pid)) {
      if (exeOf(k) === exe) return Object.assign(d, { pid: k });
    }
    await sleep(10);
  }
  await stopDaemon(d);
  throw new Error(`daemon did not start: ${argv.join(' ')}\n${tail(logFile)}`);
}

export async function stopDaemon(d: Daemon): Promise<void> {
  if (d.pid && alive(d.pid)) {
    if (exeOf(d.pid) !== d.exe) {
      process.stderr.write(`bench: pid ${d.pid} is no longer ${d.exe}; not signalling it\n`);
    } else {
      process.kill(d.pid, 'SIGTERM');
      const t0 = Date.now();
      while (alive(d.pid) && Date.now() - t0 < 5000) await sleep(20);
      if (alive(d.pid) && exeOf(d.pid) === d.exe) {
        process.stderr.write(`bench: pid ${d.pid} ignored SIGTERM for 5 s; SIGKILL\n`);
        process.kill(d.pid, 'SIGKILL');
      }
    }
  }
  // the `timeout` wrapper exits as soon as its child has
  const done = await Promise.race([d.exited, sleep(7000).then(() => null)]);
  if (done === null && d.child.exitCode === null && d.tpid !== undefined &&
      exeOf(d.tpid) === fs.realpathSync(which('timeout') ?? '/usr/bin/timeout')) {
    process.kill(d.tpid, 'SIGKILL');
  }
  clearCurrent(d);
}

/** Lines and bytes of a log file (0 when it is missing). */
export function countLines(file: string): { lines: number; bytes: number } {
  try {
    const b = fs.readFileSync(file);
    let n = 0;
    for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++;
    return { lines: n, bytes: b.length };
  } catch { return { lines: 0, bytes: 0 }; }
}

/** The last n lines of a log file, for an error message. */
export function tail(file: string, n = 5): string {
  try { return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-n).join('\n'); } catch { return ''; }
}
