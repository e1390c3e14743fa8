// Processes seen from the outside: /proc readers (descriptors, children,
// process groups, stat and status lines, time runnable), whether a pid
// exists, whether the tests run as root, and a bounded runner for programs
// other than superd.
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

/** Number of open descriptors of a process. */
export async function fdCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

/** Children of pid by state letter (Z = zombie). */
export function childrenOf(pid: number): Promise<{ pid: number; state: string }[]> {
  return processesWhere((p) => p.ppid === pid);
}

/** Whether a process (or, with a negative pid, a process group) exists. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface ProcStat {
  pid: number;
  /** The executable's name as the kernel keeps it (at most 15 characters). */
  comm: string;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** The controlling terminal's device number; 0 for none. */
  ttyNr: number;
  /** Clock ticks after boot when it started: with pid, it tells a process from a later one that reuses the pid. */
  startTime: number;
  nice: number;
  /** Scheduling policy: 0 SCHED_OTHER, 3 SCHED_BATCH, 5 SCHED_IDLE (1, 2 realtime). */
  policy: number;
}

/** Parses the text of /proc/PID/stat. */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).trim().split(' ');
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '?',
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    session: Number(rest[3]),
    ttyNr: Number(rest[4]),
    startTime: Number(rest[19]),
    nice: Number(rest[16]),
    policy: Number(rest[38]),
  };
}

export async function procStat(pid: number): Promise<ProcStat> {
  return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
}

/** One field of /proc/PID/status (`Umask`, `SigCgt`, `CapEff`…) as written there, or null: no such process, or no such field. */
export async function statusField(pid: number | 'self', key: string): Promise<string | null> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? null;
}

/** Hex mask fields of /proc/PID/status (`SigCgt`, `SigPnd`, `CapEff`…) or-ed together: bit N-1 for signal N. 0n for a field not there. */
export async function statusMask(pid: number | 'self', ...keys: string[]): Promise<bigint> {
  let mask = 0n;
  for (const key of keys) mask |= BigInt(`0x${(await statusField(pid, key)) ?? '0'}`);
  return mask;
}

/**
 * How long, in ns, the main thread of a process (its event loop, for superd)
 * has been running or waiting to run: /proc/PID/schedstat's time on a CPU
 * plus time in a run queue. A thread that spins is one or the other all the
 * time however loaded the host is; one that waits for events is neither
 * while it waits. So its growth over a span of wall time says whether the
 * thread spins, where CPU time alone would depend on the load.
 */
export async function runnableNs(pid: number): Promise<bigint> {
  const [onCpu, waiting] = (await readFile(`/proc/${pid}/schedstat`, 'utf8')).trim().split(/\s+/);
  return BigInt(onCpu ?? '0') + BigInt(waiting ?? '0');
}

/** The processes of a process group, with their state letters (Z = zombie). */
export function processGroup(pgid: number): Promise<{ pid: number; state: string }[]> {
  return processesWhere((p) => p.pgrp === pgid);
}

/**
 * Every process in /proc that matches, read from its stat line. The stat
 * files are read all at once, not one after another: a look is then about
 * as old as its listing of /proc, even on a loaded host.
 */
async function processesWhere(match: (p: ProcStat) => boolean): Promise<{ pid: number; state: string }[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  const stats = await Promise.all(
    pids.map((name) =>
      readFile(`/proc/${name}/stat`, 'utf8').then(
        parseProcStat,
        () => null, // The process went away while we looked.
      ),
    ),
  );
  return stats.filter((p): p is ProcStat => p !== null && match(p)).map((p) => ({ pid: p.pid, state: p.state }));
}

/** Pids of the processes whose environment holds `entry` (`NAME=value`), among those we may read. */
export async function processesWithEnvironment(entry: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const env = (await readFile(`/proc/${name}/environ`, 'latin1')).split('\0');
      if (env.includes(entry)) out.push(Number(name));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return out;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion; kills it (SIGKILL) and rejects past timeoutMs. */
export function runProgram(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (c: string) => (stdout += c));
    child.stderr?.on('data', (c: string) => (stderr += c));
    const ms = opts.timeoutMs ?? 15000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${ms} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, ms);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** false when the tests run as root, else why a test that needs root is skipped: `needs root: WHY`. */
export function notRoot(why: string): string | false {
  return process.getuid?.() === 0 ? false : `needs root: ${why}`;
}
