// superd's short-TCP-connection benchmark: superd against the classic C super-servers.
// Method and figures: bench/README.md. Node 20, no dependencies; built by `tsc -p tsconfig.json`.
//
//   npm run bench
//   PEERS="superd tcpserver" CONCS="1 8" REPS=1 N=1000 npm run bench
//
// Safety: loopback only (loadgen refuses anything else), one daemon at a time, every child
// process under a hard timeout, every daemon stopped by its recorded pid after checking
// /proc/PID/exe.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildLoadgen } from './build.js';
import { installCleanup, stopCurrentSync } from './children.js';
import { NOBODY_UID, NOBODY_USER, which } from './host.js';
import { runInstance } from './instance.js';
import { die, envList, HELD, IS_ROOT, KEEP_TMP, REPS, UID } from './options.js';
import { PEER_NAMES, PEERS, type ReadyPeer } from './peers.js';
import type { InstanceState, Row } from './records.js';
import { summarize } from './report.js';
import { header, startLine, writeResults } from './results.js';
import { DEFAULT_HELD_PEERS, DEFAULT_SERVICES, isServiceName, SERVICES, type ServiceName } from './services.js';

/** SERVICES, checked; kinds that need root are dropped (and noted in skipped) when not root. */
function selectServices(skipped: string[]): ServiceName[] {
  const names = envList('SERVICES', DEFAULT_SERVICES);
  const svcSel: ServiceName[] = [];
  for (const s of names) {
    if (!isServiceName(s)) die(`SERVICES: unknown service '${s}' (known: ${Object.keys(SERVICES).join(', ')})`, 2);
    svcSel.push(s);
  }
  if (IS_ROOT) return svcSel;
  for (const s of svcSel.filter((x) => SERVICES[x].needsRoot)) {
    const why = `needs root (its handlers run as ${NOBODY_USER}, uid ${NOBODY_UID}); running as uid ${UID}`;
    skipped.push(`service ${s}: ${why}`);
    process.stderr.write(`bench: skipping service ${s}: ${why}\n`);
  }
  return svcSel.filter((x) => !SERVICES[x].needsRoot);
}

/** PEERS and HELD_PEERS, checked. */
function selectPeerNames(): { peerSel: string[]; heldSel: string[] } {
  const peerSel = envList('PEERS', PEER_NAMES.join(' '));
  for (const p of peerSel) if (!PEER_NAMES.includes(p)) die(`PEERS: unknown peer '${p}' (known: ${PEER_NAMES.join(', ')})`, 2);
  const heldSel = HELD > 0 ? envList('HELD_PEERS', DEFAULT_HELD_PEERS).filter((p) => p !== 'none') : [];
  for (const p of heldSel) if (!PEER_NAMES.includes(p)) die(`HELD_PEERS: unknown peer '${p}' (known: ${PEER_NAMES.join(', ')}, none)`, 2);
  return { peerSel, heldSel };
}

/** The selected peers found on this machine, with what each will run; the rest noted in skipped. */
function readyPeers(peerSel: string[], heldSel: string[], svcSel: ServiceName[], skipped: string[]): ReadyPeer[] {
  const peers: ReadyPeer[] = [];
  for (const name of peerSel) {
    const peer = PEERS.find((p) => p.name === name);
    if (!peer) continue;
    const det = peer.detect();
    if ('reason' in det) {
      skipped.push(`${name}: ${det.reason}`);
      process.stderr.write(`bench: skipping ${name}: ${det.reason}\n`);
      continue;
    }
    if (det.warn) process.stderr.write(`bench: warning: ${name}: ${det.warn}\n`);
    const svcs = svcSel.filter((s) => peer.services[s]);
    let heldRun = heldSel.includes(name);
    if (heldRun && !peer.held) {
      heldRun = false;
      skipped.push(`held scenario for ${name}: it serves one service per process`);
      process.stderr.write(`bench: no held scenario for ${name}: it serves one service per process\n`);
    }
    if (!svcs.length && !heldRun) continue;
    peers.push({ ...peer, det, svcs, heldRun });
  }
  return peers;
}

async function main(): Promise<void> {
  if (process.platform !== 'linux') die('Linux only (/proc, epoll)');
  const skipped: string[] = [];
  const svcSel = selectServices(skipped);
  const { peerSel, heldSel } = selectPeerNames();
  if (!which('timeout')) die('`timeout` (coreutils) is needed');
  try { buildLoadgen(); } catch (e) { die((e as Error).message); }
  const peers = readyPeers(peerSel, heldSel, svcSel, skipped);
  if (!peers.length) die('no peer available');

  const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'superd-bench-'));
  fs.chmodSync(tmpRoot, 0o755);
  const started = new Date();
  process.stderr.write(startLine(peers, svcSel, tmpRoot));
  const rows: Row[] = [];
  const states: InstanceState[] = [];
  // Interleaved: each repetition runs every peer once, each in a fresh daemon, the peer order
  // rotating by one per repetition, so slow drifts in the machine hit all peers alike.
  for (let rep = 1; rep <= REPS; rep++) {
    const k = (rep - 1) % peers.length;
    for (const peer of [...peers.slice(k), ...peers.slice(0, k)]) {
      for (const svc of peer.svcs) await runInstance(peer, svc, rep, tmpRoot, rows, states);
      if (peer.heldRun) await runInstance(peer, 'cat', rep, tmpRoot, rows, states, true);
    }
  }
  const secs = Math.round((Date.now() - started.getTime()) / 1000);
  const peersRun = PEER_NAMES.filter((n) => peers.some((p) => p.name === n));
  const superseded = rows.filter((r) => r.superseded).length;
  const md = header({ started, secs, peers, skipped, superseded }) + summarize(rows, states, peersRun);
  writeResults(md, rows, states);
  const failed = states.some((s) => s.smoke !== 'ok');
  if (KEEP_TMP || failed) process.stderr.write(`bench: scratch kept in ${tmpRoot}${failed ? ' (a smoke test failed; see the logs there)' : ''}\n`);
  else fs.rmSync(tmpRoot, { recursive: true, force: true });
}

installCleanup();
main().catch((e: unknown) => {
  stopCurrentSync();
  die(e instanceof Error ? e.stack ?? e.message : String(e));
});
