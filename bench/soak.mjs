#!/usr/bin/env node
// npm run bench:soak — tens of thousands of connections through one superd,
// in rounds, and after each round what must not grow: zombies, descriptors,
// RSS. SOAK_TOTAL=40000 connections (default), SOAK_ROUNDS=8, SOAK_C=8, the
// handler /bin/cat (stderr to the log, logging at info to a file, as users
// run it). Builds bench/loadgen.c like `npm run bench` (needs cc).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LOADGEN = join(ROOT, 'bench', '.build', 'loadgen');
const TOTAL = Number(process.env.SOAK_TOTAL ?? 40000);
const ROUNDS = Number(process.env.SOAK_ROUNDS ?? 8);
const C = Number(process.env.SOAK_C ?? 8);

function buildLoadgen() {
  const src = join(ROOT, 'bench', 'loadgen.c');
  try { if (statSync(LOADGEN).mtimeMs >= statSync(src).mtimeMs) return; } catch {}
  mkdirSync(join(ROOT, 'bench', '.build'), { recursive: true });
  const r = spawnSync('cc', ['-O2', '-Wall', '-o', LOADGEN, src, '-lm'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cc failed: ${r.stderr}`);
}

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
const fds = (pid) => readdirSync(`/proc/${pid}/fd`).length;
const zombies = (pid) => {
  let n = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === pid && f[0] === 'Z') n += 1;
    } catch {}
  }
  return n;
};

buildLoadgen();
const dir = mkdtempSync(join(tmpdir(), 'superd-soak-'));
chmodSync(dir, 0o755);
const port = await freePort();
writeFileSync(join(dir, 'cat.conf'), `[cat]\nport = ${port}\nbind = 127.0.0.1\nserver = /bin/cat\n`, { mode: 0o644 });
const d = spawn(process.execPath, [join(ROOT, 'bin', 'superd'), 'run', '-d', dir, '--log-file', join(dir, 'log'), '--control-socket', join(dir, 'c.sock')], { stdio: 'ignore' });
try {
  for (let i = 0; i < 100; i++) {
    try { if (readFileSync(join(dir, 'log'), 'utf8').includes(' started ')) break; } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  execFileSync(LOADGEN, ['-p', String(port), '-c', String(C), '-n', '300', '-t', '30', '-s', '-E', '-V', '-q']);
  const idle = { rss: rssKb(d.pid), fds: fds(d.pid) };
  console.log(`superd soak: ${TOTAL} connections in ${ROUNDS} rounds at C=${C}; idle after warm-up: RSS ${idle.rss} kB, ${idle.fds} fds`);
  console.log('| round | connections | ok | errors | conn/s | RSS kB | fds | zombies |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
  const per = Math.ceil(TOTAL / ROUNDS);
  const rss = [];
  let errors = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const out = JSON.parse(execFileSync(LOADGEN, ['-p', String(port), '-c', String(C), '-n', String(per), '-t', '600', '-s', '-E', '-V', '-q', '-J'], { encoding: 'utf8' }));
    await new Promise((r) => setTimeout(r, 500));
    errors += out.errors ?? 0;
    rss.push(rssKb(d.pid));
    console.log(`| ${round} | ${per * round} | ${out.ok} | ${out.errors} | ${Math.round(out.conn_per_s ?? 0)} | ${rss.at(-1)} | ${fds(d.pid)} | ${zombies(d.pid)} |`);
  }
  const half = rss.slice(Math.floor(rss.length / 2));
  const growth = Math.max(...half) - Math.min(...half);
  console.log(`\nerrors ${errors}; fds ${fds(d.pid)} (idle ${idle.fds}); zombies ${zombies(d.pid)}; RSS over the second half of the rounds varies by ${growth} kB (${Math.min(...half)}–${Math.max(...half)} kB)`);
} finally {
  d.kill('SIGTERM');
  await new Promise((r) => d.on('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
