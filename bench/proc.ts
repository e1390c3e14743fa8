// What /proc says about a process and the machine: CPU ticks, RSS, fds, children, listeners.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

function clockTicks(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 });
  const v = Number(r.stdout);
  return Number.isFinite(v) && v > 0 ? v : 100;
}
export const CLK_TCK = clockTicks();

export interface ProcStat {
  state: string;
  ppid: number;
  /** utime+stime, seconds */
  self: number;
  /** cutime+cstime (the children it reaped), seconds */
  children: number;
}

/** /proc/PID/stat's fields from field 3 (state) on: f[11] is utime (field 14). */
function statFields(pid: number | string): string[] | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

export function readProcStat(pid: number | string): ProcStat | null {
  const f = statFields(pid);
  if (!f) return null;
  return {
    state: f[0] ?? '',
    ppid: Number(f[1]),
    self: (Number(f[11]) + Number(f[12])) / CLK_TCK,
    children: (Number(f[13]) + Number(f[14])) / CLK_TCK,
  };
}

/** The process's own utime+stime in clock ticks, or null. */
export function cpuTicks(pid: number): number | null {
  const f = statFields(pid);
  return f ? Number(f[11]) + Number(f[12]) : null;
}

export function alive(pid: number): boolean {
  const st = readProcStat(pid);
  return st !== null && st.state !== 'Z' && st.state !== 'X';
}

export function exeOf(pid: number): string | null {
  try { return fs.readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, ''); } catch { return null; }
}

export function rssKb(pid: number): number | null {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)/m);
    return m ? Number(m[1]) : null;
  } catch { return null; }
}

export function fdCount(pid: number): number | null {
  try { return fs.readdirSync(`/proc/${pid}/fd`).length; } catch { return null; }
}

export interface Snapshot { stat: ProcStat | null; rss: number | null; fds: number | null }

export function snapshot(pid: number): Snapshot {
  return { stat: readProcStat(pid), rss: rssKb(pid), fds: fdCount(pid) };
}

/** The pids of pid's children (of its main thread; else every process whose PPid is pid). */
export function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // fallback: scan /proc
    const out: number[] = [];
    for (const e of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      const st = readProcStat(e);
      if (st && st.ppid === pid) out.push(Number(e));
    }
    return out;
  }
}

/**
 * Children of pid, found as every process in /proc whose PPid is pid (so children started by any
 * of its threads count): { live, zombies }.
 */
export function procChildren(pid: number): { live: number | null; zombies: number | null } {
  let live = 0, zombies = 0;
  let ents: string[] = [];
  try { ents = fs.readdirSync('/proc'); } catch { return { live: null, zombies: null }; }
  for (const e of ents) {
    if (e.charCodeAt(0) > 57) continue; // not a pid
    const st = readProcStat(e);
    if (!st || st.ppid !== pid) continue;
    if (st.state === 'Z') zombies++;
    else if (st.state !== 'X') live++;
  }
  return { live, zombies };
}

/** Children of pid as `ps --ppid PID -o stat=` sees them: { total, zombies }. */
export function psChildren(pid: number): { total: number; zombies: number } {
  const r = spawnSync('ps', ['--ppid', String(pid), '-o', 'stat='], { encoding: 'utf8', timeout: 5000 });
  const lines = (r.stdout || '').split('\n').map((l) => l.trim()).filter(Boolean);
  return { total: lines.length, zombies: lines.filter((l) => l.includes('Z')).length };
}

export interface CpuTimes { total: number; idle: number }

/** The machine's CPU time from /proc/stat, in ticks: all of it and the idle part. */
export function cpuTimes(): CpuTimes {
  const f = (fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { total, idle: (f[3] ?? 0) + (f[4] ?? 0) };
}

/** The machine's busy % between two cpuTimes() (100 = all cores). */
export function busyPct(t0: CpuTimes, t1: CpuTimes): number {
  return Math.round(100 * (1 - (t1.idle - t0.idle) / Math.max(1, t1.total - t0.total)));
}

/** Wait up to maxS s for the machine to be at most pct % busy; returns the last busy %. */
export async function waitQuiet(pct: number, maxS: number): Promise<number> {
  let busy = 100;
  for (const t0 = Date.now(); ; ) {
    const b0 = cpuTimes();
    await sleep(500);
    busy = busyPct(b0, cpuTimes());
    if (busy <= pct || Date.now() - t0 >= maxS * 1000) return busy;
  }
}

/** The kernel's TcpExt ListenOverflows counter, or null. */
export function listenOverflows(): number | null {
  try {
    const lines = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n');
    for (let i = 0; i + 1 < lines.length; i++) {
      const k = (lines[i] ?? '').split(/\s+/), v = (lines[i + 1] ?? '').split(/\s+/);
      if (k[0] === 'TcpExt:' && v[0] === 'TcpExt:') {
        const j = k.indexOf('ListenOverflows');
        return j > 0 ? Number(v[j]) : null;
      }
    }
  } catch {}
  return null;
}

/** Is a TCP socket (v4 or v6) in LISTEN state on port? */
export function isListening(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const p = line.trim().split(/\s+/);
      if (p.length > 3 && p[1]?.endsWith(hex) && p[3] === '0A') return true;
    }
  }
  return false;
}
