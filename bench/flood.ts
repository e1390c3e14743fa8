// npm run bench:flood — how the other services fare while one handler floods
// its stderr (`stderr = log`, superd logging to a --log-file, as users run
// it): /bin/cat's latency at C=1 before and during the flood, and superd's
// RSS. These were timed assertions in the tests (fault-log-flood: 90 % within
// 100 ms, all within 1 s, RSS growth under 60 MB); the tests keep what must
// hold on any host (served, nothing dropped, back where it was), the figures
// live here. FLOOD_S=3 (the flood handler's timeout), the tests' two floods:
// empty lines (one event per run of them) and short ones (`yes x`).
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildLoadgen } from './build.js';
import type { LoadgenResult } from './loadgen.js';
import { LOADGEN, ROOT } from './paths.js';
import { fdCount, rssKb } from './proc.js';
import { freePort } from './ports.js';

const FLOOD_S = Number(process.env.FLOOD_S ?? 3);
const FLOODS: [string, string][] = [
  ['empty lines (yes "")', `-c 'yes "" >&2'`],
  ['short lines (yes x)', `-c 'yes x >&2'`],
];

/** Waits (up to 10 s) for a line naming `what` in superd's log file. */
async function waitLogged(log: string, what: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    try {
      if (readFileSync(log, 'utf8').includes(what)) return true;
    } catch {
      // Not written yet.
    }
    await sleep(100);
  }
  return false;
}

/** loadgen at C=1 on `port` for `seconds` (or n connections): its figures. */
function load(port: number, seconds: number, n = 100000): LoadgenResult {
  return JSON.parse(execFileSync(LOADGEN, ['-p', String(port), '-c', '1', '-n', String(n), '-t', String(seconds), '-s', '-E', '-V', '-q', '-J'], { encoding: 'utf8' })) as LoadgenResult;
}

const ms = (v: number | null): string => (v === null ? '–' : v.toFixed(1));

async function floodRun(what: string, args: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'superd-flood-'));
  chmodSync(dir, 0o755);
  const [cat, flood] = [await freePort(), await freePort()];
  writeFileSync(join(dir, 'cat.conf'), `[cat]\nport = ${cat}\nbind = 127.0.0.1\nserver = /bin/cat\n`, { mode: 0o644 });
  writeFileSync(join(dir, 'flood.conf'), `[flood]\nport = ${flood}\nbind = 127.0.0.1\nserver = /bin/sh\nargs = ${args}\ntimeout = ${FLOOD_S}\n`, { mode: 0o644 });
  const log = join(dir, 'log');
  const d = spawn(process.execPath, [join(ROOT, 'bin', 'superd'), 'run', '-d', dir, '--log-file', log, '--control-socket', join(dir, 'c.sock')], { stdio: 'ignore' });
  const exited = new Promise((r) => d.on('exit', r));
  const pid = d.pid ?? -1;
  try {
    if (!(await waitLogged(log, ' started '))) throw new Error('superd did not start');
    load(cat, 30, 300);
    const before = load(cat, 2);
    const idle = { rss: rssKb(pid) ?? 0, fds: fdCount(pid) };
    // The flood: one connection, kept open, whose handler writes to stderr until its timeout.
    const client = connect(flood, '127.0.0.1');
    client.on('error', () => undefined);
    client.resume();
    const ended = new Promise((r) => client.on('close', r));
    let rssMax = idle.rss;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssKb(pid) ?? 0)), 50);
    await waitLogged(log, 'service=flood');
    const during = load(cat, Math.max(1, FLOOD_S - 1));
    await ended;
    clearInterval(sampler);
    await sleep(1500);
    const after = { rss: rssKb(pid) ?? 0, fds: fdCount(pid) };
    for (const [when, r] of [['before', before], ['during', during]] as const) {
      console.log(`| ${what} | ${when} | ${r.ok} | ${r.errors} | ${ms(r.p50_ms)} | ${ms(r.p90_ms)} | ${ms(r.p99_ms)} | ${ms(r.max_ms)} |`);
    }
    console.log(`| ${what} | RSS kB idle / max during / after; fds idle / after | ${idle.rss} / ${rssMax} / ${after.rss} | ${idle.fds} / ${after.fds} | | | | |`);
    const p90 = during.p90_ms ?? Infinity;
    const worst = during.max_ms ?? Infinity;
    const grew = rssMax - idle.rss;
    console.log(`| ${what} | targets: p90 < 100 ms ${p90 < 100 ? 'met' : 'NOT met'}, all < 1 s ${worst < 1000 ? 'met' : 'NOT met'}, RSS growth < 60 MB ${grew < 60000 ? 'met' : 'NOT met'} (${grew} kB) | | | | | | |`);
  } finally {
    d.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

buildLoadgen();
console.log(`superd flood: /bin/cat at C=1 while a handler floods its stderr for ${FLOOD_S} s (stderr = log, --log-file)\n`);
console.log('| flood | when | ok | errors | p50 ms | p90 ms | p99 ms | max ms |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|');
for (const [what, args] of FLOODS) await floodRun(what, args);
