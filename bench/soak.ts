// npm run bench:soak — tens of thousands of connections through one superd,
// in rounds, and after each round what must not grow: zombies, descriptors,
// RSS. SOAK_TOTAL=40000 connections (default), SOAK_ROUNDS=8, SOAK_C=8, the
// handler /bin/cat (stderr to the log, logging at info to a file, as users
// run it). Builds bench/loadgen.c like `npm run bench` (needs cc).
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildLoadgen } from './build.js';
import type { LoadgenResult } from './loadgen.js';
import { LOADGEN } from './paths.js';
import { fdCount, procChildren, rssKb } from './proc.js';
import { freePort } from './ports.js';
import { startSuperd } from './quick.js';

const TOTAL = Number(process.env.SOAK_TOTAL ?? 40000);
const ROUNDS = Number(process.env.SOAK_ROUNDS ?? 8);
const C = Number(process.env.SOAK_C ?? 8);

/** The rounds: per round, loadgen's figures and the daemon's RSS, fds and zombies. */
async function rounds(port: number, pid: number): Promise<{ rss: number[]; errors: number }> {
  console.log('| round | connections | ok | errors | conn/s | RSS kB | fds | zombies |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
  const per = Math.ceil(TOTAL / ROUNDS);
  const rss: number[] = [];
  let errors = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const out = JSON.parse(execFileSync(LOADGEN, ['-p', String(port), '-c', String(C), '-n', String(per), '-t', '600', '-s', '-E', '-V', '-q', '-J'], { encoding: 'utf8' })) as LoadgenResult;
    await sleep(500);
    errors += out.errors ?? 0;
    rss.push(rssKb(pid) ?? 0);
    console.log(`| ${round} | ${per * round} | ${out.ok} | ${out.errors} | ${Math.round(out.conn_per_s ?? 0)} | ${rss.at(-1)} | ${fdCount(pid)} | ${procChildren(pid).zombies} |`);
  }
  return { rss, errors };
}

buildLoadgen();
const port = await freePort();
const d = await startSuperd({ 'cat.conf': `[cat]\nport = ${port}\nbind = 127.0.0.1\nserver = /bin/cat\n` });
const { pid } = d;
try {
  execFileSync(LOADGEN, ['-p', String(port), '-c', String(C), '-n', '300', '-t', '30', '-s', '-E', '-V', '-q']);
  const idle = { rss: rssKb(pid) ?? 0, fds: fdCount(pid) };
  console.log(`superd soak: ${TOTAL} connections in ${ROUNDS} rounds at C=${C}; idle after warm-up: RSS ${idle.rss} kB, ${idle.fds} fds`);
  const { rss, errors } = await rounds(port, pid);
  const half = rss.slice(Math.floor(rss.length / 2));
  const growth = Math.max(...half) - Math.min(...half);
  console.log(`\nerrors ${errors}; fds ${fdCount(pid)} (idle ${idle.fds}); zombies ${procChildren(pid).zombies}; RSS over the second half of the rounds varies by ${growth} kB (${Math.min(...half)}–${Math.max(...half)} kB)`);
} finally {
  await d.stop();
}
