// npm run bench:flood — how the other services fare while one handler floods
// its stderr (`stderr = log`, superd logging to a --log-file, as users run
// it): /bin/cat's latency at C=1 before and during the flood, and superd's
// RSS. These were timed assertions in the tests (fault-log-flood: 90 % within
// 100 ms, all within 1 s, RSS growth under 60 MB); the tests keep what must
// hold on any host (served, nothing dropped, back where it was), the figures
// live here. FLOOD_S=3 (the flood handler's timeout), the tests' two floods:
// empty lines (one event per run of them) and short ones (`yes x`).
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildLoadgen } from './build.js';
import { fdCount, rssKb } from './proc.js';
import { freePort } from './ports.js';
import { latencyRow, loadC1, startSuperd } from './quick.js';

const FLOOD_S = Number(process.env.FLOOD_S ?? 3);
const FLOODS: [string, string][] = [
  ['empty lines (yes "")', `-c 'yes "" >&2'`],
  ['short lines (yes x)', `-c 'yes x >&2'`],
];

async function floodRun(what: string, args: string): Promise<void> {
  const [cat, flood] = [await freePort(), await freePort()];
  const d = await startSuperd({
    'cat.conf': `[cat]\nport = ${cat}\nbind = 127.0.0.1\nserver = /bin/cat\n`,
    'flood.conf': `[flood]\nport = ${flood}\nbind = 127.0.0.1\nserver = /bin/sh\nargs = ${args}\ntimeout = ${FLOOD_S}\n`,
  });
  try {
    loadC1(cat, 30, 300);
    const before = loadC1(cat, 2);
    const idle = { rss: rssKb(d.pid) ?? 0, fds: fdCount(d.pid) };
    // The flood: one connection, kept open, whose handler writes to stderr until its timeout.
    const client = connect(flood, '127.0.0.1');
    client.on('error', () => undefined);
    client.resume();
    const ended = new Promise((r) => client.on('close', r));
    let rssMax = idle.rss;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssKb(d.pid) ?? 0)), 50);
    await d.logged('service=flood');
    const during = loadC1(cat, Math.max(1, FLOOD_S - 1));
    await ended;
    clearInterval(sampler);
    await sleep(1500);
    const after = { rss: rssKb(d.pid) ?? 0, fds: fdCount(d.pid) };
    console.log(latencyRow(`${what}, before`, before));
    console.log(latencyRow(`${what}, during`, during));
    const p90 = during.p90_ms ?? Infinity;
    const worst = during.max_ms ?? Infinity;
    const grew = rssMax - idle.rss;
    console.log(`\n${what}: RSS ${idle.rss} kB idle, ${rssMax} at most during, ${after.rss} after; fds ${idle.fds} idle, ${after.fds} after.`);
    console.log(`targets: p90 < 100 ms ${p90 < 100 ? 'met' : 'NOT met'}; all < 1 s ${worst < 1000 ? 'met' : 'NOT met'}; RSS growth < 60 MB ${grew < 60000 ? 'met' : 'NOT met'} (${grew} kB).\n`);
  } finally {
    await d.stop();
  }
}

buildLoadgen();
console.log(`superd flood: /bin/cat at C=1 while a handler floods its stderr for ${FLOOD_S} s (stderr = log, --log-file)\n`);
for (const [what, args] of FLOODS) {
  console.log('| run | ok | errors | p50 ms | p90 ms | p99 ms | max ms |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  await floodRun(what, args);
}
