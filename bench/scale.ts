// npm run bench:scale — superd with N services on 127.0.0.1 (one port each,
// 1,000 sections a file): how long it takes to start (every service listening),
// how long a reload that changes one service takes to apply, RSS after each,
// and the idle CPU. SCALE="1000 10000" by default; BASE_PORT=20000. superd
// runs as users run it: logging at info (one `listening` line per service).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from './paths.js';
import { cpuTicks, rssKb } from './proc.js';

const SUPERD = join(ROOT, 'bin', 'superd');
const SCALES = (process.env.SCALE ?? '1000 10000').split(/\s+/).filter(Boolean).map(Number);
const BASE_PORT = Number(process.env.BASE_PORT ?? 20000);
const PER_FILE = 1000;

function writeServices(dir: string, n: number, changed = -1): void {
  for (let f = 0; f * PER_FILE < n; f++) {
    const lines = [];
    for (let i = f * PER_FILE; i < Math.min(n, (f + 1) * PER_FILE); i++) {
      lines.push(`[s${i}]`, `port = ${BASE_PORT + i}`, 'bind = 127.0.0.1', 'server = /bin/cat', i === changed ? 'args = -u' : '', '');
    }
    writeFileSync(join(dir, `f${String(f).padStart(3, '0')}.conf`), lines.join('\n'), { mode: 0o644 });
  }
}

/** Collects a child's stderr lines; waitLine(re, ms) resolves with the first that matches. */
function lineWaiter(child: ChildProcess): (re: RegExp, ms: number) => Promise<string> {
  const lines: string[] = [];
  let pending = '';
  const waiters = new Set<() => void>();
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (c: string) => {
    pending += c;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      lines.push(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
    for (const w of waiters) w();
  });
  return (re, ms) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms`)), ms);
    const check = (): void => {
      const found = lines.find((l) => re.test(l));
      if (found) {
        clearTimeout(timer);
        waiters.delete(check);
        resolve(found);
      }
    };
    waiters.add(check);
    check();
  });
}

interface ScaleResult { n: number; startS: number; reloadS: number; rssStart: number; rssReload: number; idleTicks: number; summary: { changed?: number } }

async function measure(n: number): Promise<ScaleResult> {
  const dir = mkdtempSync(join(tmpdir(), 'superd-scale-'));
  chmodSync(dir, 0o755);
  writeServices(dir, n);
  const t0 = performance.now();
  const d = spawn(process.execPath, [SUPERD, 'run', '-d', dir, '--log-format', 'json', '--control-socket', join(dir, 'c.sock')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((r) => d.on('exit', r));
  const waitLine = lineWaiter(d);
  const pid = d.pid ?? -1;
  try {
    await waitLine(/"event":"started"/, 600_000);
    const startS = (performance.now() - t0) / 1000;
    const rssStart = rssKb(pid) ?? 0;
    const c0 = cpuTicks(pid) ?? 0;
    await sleep(3000);
    const idleTicks = (cpuTicks(pid) ?? 0) - c0;
    writeServices(dir, n, Math.floor(n / 2));
    const t1 = performance.now();
    d.kill('SIGHUP');
    const summary = JSON.parse(await waitLine(/"event":"reload"/, 600_000)) as ScaleResult['summary'];
    const reloadS = (performance.now() - t1) / 1000;
    return { n, startS, reloadS, rssStart, rssReload: rssKb(pid) ?? 0, idleTicks, summary };
  } finally {
    d.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log('| services | start s | reload (1 changed) s | RSS after start MB | RSS after reload MB | idle CPU ticks in 3 s |');
console.log('|---:|---:|---:|---:|---:|---:|');
for (const n of SCALES) {
  const r = await measure(n);
  if (r.summary.changed !== 1) console.log(`(reload summary: ${JSON.stringify(r.summary)})`);
  console.log(`| ${n} | ${r.startS.toFixed(2)} | ${r.reloadS.toFixed(2)} | ${(r.rssStart / 1024).toFixed(0)} | ${(r.rssReload / 1024).toFixed(0)} | ${r.idleTicks} |`);
}
