// One daemon instance: its temp dir and config, start, smoke test, idle state, warm-up, one run
// per concurrency (or the held scenario, held.ts), stop, and its state record.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DaemonConfig } from './configs.js';
import { countLines, startDaemon, stopDaemon, tail, type Started } from './daemon.js';
import { runHeld } from './held.js';
import { errorText, loadgen } from './loadgen.js';
import { measure, waitQuietNow, type RunContext } from './measure.js';
import { CONCS, DAEMON_LIFETIME, HELD, HELD_DAEMON_LIFETIME, REPS, WARMUP } from './options.js';
import type { ReadyPeer } from './peers.js';
import { freePort } from './ports.js';
import { alive, isListening, psChildren, snapshot } from './proc.js';
import { newState, type InstanceState, type Row } from './records.js';
import { HELD_SERVICE, SERVICES, type ServiceName } from './services.js';

interface Prepared { dir: string; port: number; holdPort: number | null; cfg: DaemonConfig; st: InstanceState; tag: string }

function configFor(peer: ReadyPeer, svcName: ServiceName, dir: string, port: number, holdPort: number | null): DaemonConfig {
  const gen = holdPort === null ? peer.services[svcName] : null;
  if (gen) return gen({ dir, port, det: peer.det });
  if (holdPort !== null && peer.held) return peer.held({ dir, port, holdPort, det: peer.det });
  throw new Error(`${peer.name} has no config for ${holdPort === null ? svcName : 'the held scenario'}`);
}

function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    const f = path.join(dir, name);
    fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o755 });
    // superd as root refuses a services dir or file that is group/other-writable (whatever the
    // umask) or not owned by root (the harness's own uid here)
    fs.chmodSync(path.dirname(f), 0o755);
    fs.writeFileSync(f, text, { mode: 0o644 });
    fs.chmodSync(f, 0o644);
  }
}

async function prepare(peer: ReadyPeer, svcName: ServiceName, rep: number, tmpRoot: string, held: boolean): Promise<Prepared> {
  const stName = held ? HELD_SERVICE : svcName;
  const dir = path.join(tmpRoot, `r${rep}-${peer.name}-${held ? 'held' : svcName}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  let holdPort: number | null = null;
  if (held) do holdPort = await freePort(); while (holdPort === port);
  // What the rest of the machine is doing with no daemon running: other jobs skew everything.
  const bgBusy = await waitQuietNow();
  const cfg = configFor(peer, svcName, dir, port, holdPort);
  writeFiles(dir, cfg.files ?? {});
  const st = newState({
    rep, service: stName, peer: peer.name, version: peer.det.version, port, bgBusy, dir, holdPort, heldWant: held ? HELD : null,
  });
  const tag = `[rep ${rep}/${REPS}] ${peer.name} ${stName}`;
  if (bgBusy > 10) process.stderr.write(`${tag}: warning: the machine is ${bgBusy} % busy before the daemon starts; figures will be low\n`);
  return { dir, port, holdPort, cfg, st, tag };
}

/** Waits (up to 10 s) for the ports to listen, then 3 verified echoes; false (st.smoke says why) when not. */
async function smokeTest(m: RunContext, holdPort: number | null): Promise<boolean> {
  const { d, st, tag, port } = m;
  const t0 = Date.now();
  const listening = (): boolean => isListening(port) && (holdPort === null || isListening(holdPort));
  while (!listening() && alive(d.pid) && Date.now() - t0 < 10000) await sleep(20);
  if (!listening()) {
    st.smoke = alive(d.pid) ? 'FAILED(not listening after 10 s)' : 'FAILED(daemon died)';
    process.stderr.write(`${tag}: ${st.smoke}\n${tail(d.logFile)}\n`);
    return false;
  }
  const smoke = await loadgen(port, 1, 3, m.svc.loadgenArgs);
  st.conns += smoke.attempts;
  if (smoke.ok !== 3) {
    st.smoke = `FAILED(ok=${smoke.ok}${errorText(smoke)})${alive(d.pid) ? '' : ';daemon-died'}`;
    process.stderr.write(`${tag}: smoke test ${st.smoke}\n${tail(d.logFile)}\n`);
    return false;
  }
  st.smoke = 'ok';
  return true;
}

/** The idle state after the smoke test, then WARMUP connections at C=8 (or fewer). */
async function idleAndWarmUp(m: RunContext): Promise<void> {
  await sleep(200);
  const idle = snapshot(m.d.pid);
  m.st.idle_rss_kb = idle.rss;
  m.st.idle_fds = idle.fds;
  if (WARMUP > 0) {
    const w = await loadgen(m.port, Math.min(8, WARMUP), WARMUP, m.svc.loadgenArgs);
    m.st.conns += w.attempts;
    if (w.errors) process.stderr.write(`${m.tag}: warm-up: ${w.errors} errors${errorText(w)}\n`);
  }
}

/** The daemon's state at the end, then stop it and count its log lines. */
async function finish(d: Started, st: InstanceState, logs: string[]): Promise<void> {
  if (alive(d.pid)) {
    const end = snapshot(d.pid);
    st.end_rss_kb = end.rss;
    st.end_fds = end.fds;
    st.children_end = psChildren(d.pid).total;
    st.alive_end = 'yes';
  } else st.alive_end = 'no';
  await stopDaemon(d);
  for (const f of logs) {
    const c = countLines(f);
    st.log_lines += c.lines;
    st.log_bytes += c.bytes;
  }
}

/**
 * Runs one instance of peer serving svcName (or, held = true, the held scenario's instance) and
 * pushes its state to states and its load runs to rows.
 */
export async function runInstance(peer: ReadyPeer, svcName: ServiceName, rep: number, tmpRoot: string,
  rows: Row[], states: InstanceState[], held = false): Promise<void> {
  const { dir, port, holdPort, cfg, st, tag } = await prepare(peer, svcName, rep, tmpRoot, held);
  states.push(st);
  const env = { ...process.env };
  if (cfg.dropEnv) for (const k of Object.keys(env)) if (cfg.dropEnv.test(k)) delete env[k];
  const logFile = path.join(dir, 'daemon.log');
  let d: Started;
  try {
    d = await startDaemon({ argv: cfg.argv, exe: cfg.exe, cwd: cfg.cwd ?? dir, env, logFile, lifetime: held ? HELD_DAEMON_LIFETIME : DAEMON_LIFETIME });
  } catch (e) {
    st.smoke = `FAILED(start)`;
    process.stderr.write(`${tag}: ${(e as Error).message}\n`);
    return;
  }
  st.pid = d.pid;
  const m: RunContext = { d, port, svc: SERVICES[svcName], svcName, peer: peer.name, rep, st, tag, rows };
  try {
    if (!(await smokeTest(m, holdPort))) return;
    await idleAndWarmUp(m);
    if (holdPort !== null) await runHeld(m, holdPort);
    else for (const c of CONCS) if (!(await measure(m, c, 'plain'))) break;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`${tag}: ${msg}\n`);
    if (held && st.smoke === 'ok') st.smoke = `ok; held scenario FAILED: ${msg.split('\n')[0]?.slice(0, 120)}`;
    else throw e;
  } finally {
    await finish(d, st, [logFile, ...(cfg.logs ?? [])]);
  }
}
