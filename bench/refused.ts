// npm run bench:refused — a permitted client's latency while others are
// refused by the thousand (only_from): the builtin echo at C=1 before and
// during a flood of connections from 127.0.0.2–5, made by a process of its
// own (16 connect loops) for FLOOD_S=3 s. serve-access used to assert the
// permitted client was served within 1 s during such a flood; the test keeps
// "served", the figure lives here.
import { spawn } from 'node:child_process';
import { buildLoadgen } from './build.js';
import { freePort } from './ports.js';
import { errorsOf, latencyRow, loadC1, startSuperd } from './quick.js';

const FLOOD_S = Number(process.env.FLOOD_S ?? 3);

/** 16 loops, each connecting, writing a byte and waiting for the close, from the four refused sources in turn; prints how many it made. */
const FLOODER = `
const net = require('node:net');
const [port, seconds] = process.argv.slice(1).map(Number);
const sources = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
const end = Date.now() + seconds * 1000;
let made = 0;
const one = (i) => new Promise((resolve) => {
  const s = net.connect({ port, host: '127.0.0.1', localAddress: sources[i % sources.length] }, () => s.end('x'));
  s.on('error', resolve); s.on('close', resolve); s.resume();
});
const loop = async (i) => { while (Date.now() < end) { await one(made++); } };
Promise.all(Array.from({ length: 16 }, (_, i) => loop(i))).then(() => console.log(made));
`;

buildLoadgen();
const port = await freePort();
const d = await startSuperd({ 'guarded.conf': `[guarded]\nport = ${port}\nbind = 127.0.0.1\nbuiltin = echo\nonly_from = 127.0.0.1\n` });
try {
  loadC1(port, 30, 300);
  const before = loadC1(port, 2);
  const flooder = spawn(process.execPath, ['-e', FLOODER, String(port), String(FLOOD_S)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  flooder.stdout.on('data', (b: Buffer) => (out += String(b)));
  const flooded = new Promise((r) => flooder.on('exit', r));
  const during = loadC1(port, Math.max(1, FLOOD_S - 1));
  await flooded;
  console.log(`superd refused flood: builtin echo (only_from = 127.0.0.1) at C=1 while ${out.trim() || '?'} connections from 127.0.0.2–5 are refused in ${FLOOD_S} s\n`);
  console.log('| run | ok | errors | p50 ms | p90 ms | p99 ms | max ms |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  console.log(latencyRow('before', before));
  console.log(latencyRow('during', during));
  const worst = during.max_ms ?? Infinity;
  console.log(`\ntarget: the permitted client served within 1 s throughout: ${during.ok > 0 && errorsOf(during) === 0 && worst < 1000 ? 'met' : 'NOT met'} (worst ${worst} ms, ${errorsOf(during)} errors).`);
} finally {
  await d.stop();
}
