// Issue 23, one daemon per control socket (SPEC §5): a second `superd run`
// given the control socket of a running superd exits 1 before it binds any
// service port, saying which superd answers there, and leaves the running one
// as it was (socket file, pid file, `superd status`). Once that one has
// stopped, the same command starts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { exchange, freePorts, tryConnect } from './helpers/clients.js';
import { SUPERD, assertStillServes, collectLog, daemonStatus, runSuperd, serviceFile, startServices, tempDir, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { eventually, within } from './helpers/wait.js';

const CAT = { protocol: 'tcp', bind: '127.0.0.1', server: '/bin/cat' };
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

const daemons: DaemonHandle[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await Promise.all(daemons.splice(0).map((d) => d.stop('SIGKILL')));
});
after(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** The second superd's own services dir (one cat service on a port of its own), pid file and command line. */
async function second(controlSocket: string): Promise<{ argv: string[]; port: number; pidFile: string }> {
  const base = await tempDir('superd-fault-single-');
  dirs.push(base);
  const servicesDir = join(base, 'services.d');
  await mkdir(servicesDir);
  const [port = 0] = await freePorts(1);
  await writeFile(join(servicesDir, 'b.conf'), serviceFile('b', { ...CAT, port }));
  const pidFile = join(base, 'b.pid');
  return { argv: ['run', '-d', servicesDir, '--pid-file', pidFile, '--control-socket', controlSocket, '--log-format', 'json'], port, pidFile };
}

function records(stderr: string): LogRecord[] {
  const out: LogRecord[] = [];
  for (const line of stderr.split('\n')) {
    try {
      out.push(JSON.parse(line) as LogRecord);
    } catch {
      // `superd: cannot start: …` and the like.
    }
  }
  return out;
}

describe('a second superd on the control socket of a running one', { timeout: 90000 }, () => {
  test('exits 1 at once, saying which superd answers there, without binding its port; the first serves on, intact', async () => {
    const { d: a, port } = await startServices({ a: CAT });
    daemons.push(a);
    const aPid = (await readFile(a.pidFile, 'utf8')).trim();
    assert.equal(aPid, String(a.pid));
    const b = await second(a.controlSocket);

    // While B runs, its port is tried again and again: it must never be bound.
    let running = true;
    const seen = new Set<string>();
    const watching = (async () => {
      while (running) {
        seen.add(await tryConnect(b.port, '127.0.0.1', 1000));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const r = await runSuperd(b.argv, { timeoutMs: 20000 });
    running = false;
    await watching;

    assert.equal(r.timedOut, false, `the second superd ran on; stderr: ${r.stderr}`);
    assert.equal(r.code, 1, r.stderr);
    const said = new RegExp(`^superd: cannot start: another superd \\(pid ${a.pid}\\) answers on ${a.controlSocket.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm');
    assert.match(r.stderr, said);
    const logs = records(r.stderr);
    const refused = logs.find((l) => l.event === 'control_socket');
    assert.equal(refused?.level, 'error', JSON.stringify(logs));
    assert.equal(refused?.path, a.controlSocket);
    assert.match(String(refused?.message), new RegExp(`another superd \\(pid ${a.pid}\\)`));
    assert.deepEqual(logs.filter((l) => l.event === 'listening' || l.event === 'bind_failed' || l.event === 'started'), [], 'no service was bound');
    assert.deepEqual([...seen].filter((s) => s === 'connected'), [], `the port of the second was never bound: ${[...seen].join(', ')}`);
    assert.equal(await tryConnect(b.port), 'ECONNREFUSED');
    assert.equal(existsSync(b.pidFile), false, 'no pid file of its own');

    // The first one: serving, answering status, its socket and pid file its own.
    await assertStillServes(a, port.a ?? 0);
    assert.ok((await lstat(a.controlSocket)).isSocket(), 'its control socket is still there');
    assert.equal((await daemonStatus(a.controlSocket)).pid, a.pid);
    assert.equal((await readFile(a.pidFile, 'utf8')).trim(), aPid, 'its pid file is intact');
    assert.deepEqual(a.logs.filter((l) => l.level === 'error'), [], 'the first logged no error');
  });

  test('once the first has stopped, the second starts on that control socket', async () => {
    const { d: a } = await startServices({ a: CAT });
    daemons.push(a);
    const b = await second(a.controlSocket);
    assert.deepEqual(await a.stop('SIGTERM'), { code: 0, signal: null });
    daemons.splice(daemons.indexOf(a), 1);
    // stop() removed the first one's directory with its socket: the path is made again, empty.
    await mkdir(join(a.controlSocket, '..'), { recursive: true });
    dirs.push(join(a.controlSocket, '..'));

    const proc = spawn(process.execPath, [SUPERD, ...b.argv], { stdio: ['ignore', 'ignore', 'pipe'], env: ENV });
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    cleanups.push(async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    });
    const logs: LogRecord[] = [];
    const other: string[] = [];
    if (proc.stderr !== null) collectLog(proc.stderr, logs, other);
    assert.ok(
      await eventually(() => logs.some((l) => l.event === 'started') || proc.exitCode !== null, 15000),
      `the second started: ${JSON.stringify(logs)} ${other.join('\n')}`,
    );
    assert.equal(proc.exitCode, null, `the second is running: ${JSON.stringify(logs)} ${other.join('\n')}`);
    assert.deepEqual(logs.filter((l) => l.event === 'control_socket'), []);
    assert.equal((await exchange(b.port, 'b\n')).data.toString(), 'b\n');
    assert.equal((await daemonStatus(a.controlSocket)).pid, proc.pid);
    proc.kill('SIGTERM');
    assert.equal(await within(exited, 15000, 'the second exits'), 0);
  });
});
