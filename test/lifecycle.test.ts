// SPEC §1 and §5: the daemon's life from the outside: pid file, signals,
// shutdown grace, `superd reload` and `superd status`, the log file.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exchange, freePorts, tryConnect } from './helpers/clients.js';
import { perTest, readJsonLog, runSuperd, scratchDirs, serviceFile } from './helpers/daemon.js';
import { processGroup } from './helpers/proc.js';
import { eventually, within } from './helpers/wait.js';

// Stopped with SIGTERM after each test; scratch directories removed after the file.
const { daemon, hold } = perTest({ stopSignal: 'SIGTERM' });
const scratch = scratchDirs('superd-lifecycle-');

function cat(name: string, port: number): string {
  return serviceFile(name, { port, bind: '127.0.0.1', server: '/bin/cat' });
}

const ms = (t: unknown): number => Date.parse(String(t));

describe('pid file', { timeout: 120000 }, () => {
  test('exists and holds the pid once `started` is logged; removed at exit', async () => {
    const [p] = (await freePorts(1)) as [number];
    const d = await daemon({ services: { 'a.conf': cat('a', p) }, waitStarted: false });
    await d.waitFor((r) => r.event === 'started', 'started');
    // Read at once: the file must already be there when `started` is logged.
    const text = await readFile(d.pidFile, 'utf8');
    assert.equal(text.trim(), String(d.pid));
    d.proc.kill('SIGTERM');
    const exit = await within(d.exited, 30000, 'exit after SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.equal(existsSync(d.pidFile), false, 'pid file removed at exit');
    assert.ok(d.logs.some((r) => r.event === 'stopped'), 'stopped is logged');
  });
});

describe('SIGTERM and SIGINT', { timeout: 120000 }, () => {
  // A grace no test waits for: superd exiting well before it shows it did not wait.
  const LONG_GRACE_S = 120;

  /** superd with --shutdown-grace `grace` and one cat serving a held client, then `signal`: what the tests go on from. */
  async function signalledWithHandler(signal: NodeJS.Signals, grace: number) {
    const [p] = (await freePorts(1)) as [number];
    const d = await daemon({ services: { 'a.conf': cat('cat', p) }, args: ['--shutdown-grace', String(grace)] });
    const c = await hold(p);
    c.send('hi\n');
    await c.waitForData('hi\n');
    const accepted = await d.waitFor((r) => r.event === 'accepted' && r.service === 'cat', 'accepted');
    d.proc.kill(signal);
    const shutdown = await d.waitFor((r) => r.event === 'shutdown', 'shutdown');
    assert.equal(shutdown.signal, signal);
    return { p, d, c, accepted, shutdown };
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} with a handler running: stops accepting, the handler goes on serving, exit 0 once it ends`, async () => {
      const { p, d, c, accepted } = await signalledWithHandler(signal, LONG_GRACE_S);
      assert.ok(await eventually(async () => (await tryConnect(p)) === 'ECONNREFUSED', 10000), 'new connections are refused');

      // In the grace the handler goes on serving; superd waits for it.
      c.send('in grace\n');
      await c.waitForData('in grace\n');
      assert.equal(d.proc.exitCode, null, 'superd waits while a handler runs');

      // The client ends: cat exits 0 on its own, and superd with it, long before the grace is over.
      c.socket.end();
      const exited = await d.waitFor((r) => r.event === 'exited' && r.pid === accepted.pid, 'handler exited');
      assert.deepEqual([exited.code, exited.signal], [0, null]);
      const exit = await within(d.exited, 30000, `superd exits without waiting out a ${LONG_GRACE_S} s grace`);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(d.logs.some((r) => r.event === 'stopped'));
    });

    test(`${signal} with a handler still running when the grace is over: the handler gets SIGTERM then, exit 0`, async () => {
      const { d, c, accepted, shutdown } = await signalledWithHandler(signal, 1);
      const exited = await d.waitFor((r) => r.event === 'exited' && r.pid === accepted.pid, 'handler exited');
      assert.equal(exited.signal, 'SIGTERM');
      // superd's own clock: the grace is counted from after the shutdown line.
      // How late after it the handler ends is the host's, not asserted.
      const after = ms(exited.time) - ms(shutdown.time);
      assert.ok(after >= 1000, `handler ended ${after} ms after shutdown, before the grace (--shutdown-grace 1) was over`);
      assert.equal(await c.closed, 'end', 'the client sees the connection close');

      const exit = await within(d.exited, 30000, 'superd exits');
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(d.logs.some((r) => r.event === 'stopped'));
    });
  }

  test('a handler that ignores SIGTERM gets SIGKILL 5 s later, with its whole process group', async () => {
    const [p] = (await freePorts(1)) as [number];
    const service = serviceFile('stubborn', {
      port: p,
      bind: '127.0.0.1',
      server: '/bin/sh',
      args: `-c 'trap "" TERM; echo ready; sleep 30'`,
    });
    const d = await daemon({ services: { 'a.conf': service }, args: ['--shutdown-grace', '1'] });
    const c = await hold(p);
    await c.waitForData('ready\n');
    const accepted = await d.waitFor((r) => r.event === 'accepted', 'accepted');
    const pgid = Number(accepted.pid);
    // sh says ready before it starts sleep: the group has both once sleep is there.
    let group: { pid: number; state: string }[] = [];
    assert.ok(await eventually(async () => (group = await processGroup(pgid)).length >= 2, 10000), `sh and its sleep share a process group: ${JSON.stringify(group)}`);

    d.proc.kill('SIGTERM');
    const shutdown = await d.waitFor((r) => r.event === 'shutdown', 'shutdown');
    const exited = await d.waitFor((r) => r.event === 'exited' && r.pid === accepted.pid, 'handler exited', 30000);
    assert.equal(exited.signal, 'SIGKILL');
    const after = ms(exited.time) - ms(shutdown.time);
    assert.ok(after >= 6000, `SIGKILL came ${after} ms after shutdown, before 1 s grace + 5 s were over`);
    const exit = await within(d.exited, 30000, 'superd exits');
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(
      await eventually(async () => (await processGroup(pgid)).every((x) => x.state === 'Z'), 10000),
      `the handler's process group is gone: ${JSON.stringify(await processGroup(pgid))}`,
    );
  });

  test('SIGTERM with no handler running exits 0 without waiting out the grace', async () => {
    const [p] = (await freePorts(1)) as [number];
    const d = await daemon({ services: { 'a.conf': cat('a', p) }, args: ['--shutdown-grace', String(LONG_GRACE_S)] });
    assert.equal((await exchange(p, 'x')).data.toString(), 'x');
    await d.waitFor((r) => r.event === 'exited', 'the one handler exited');
    d.proc.kill('SIGTERM');
    const exit = await within(d.exited, 30000, `exit, well before a ${LONG_GRACE_S} s grace`);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.equal(d.logs.find((r) => r.event === 'shutdown')?.signal, 'SIGTERM');
  });
});

describe('SIGHUP', { timeout: 120000 }, () => {
  test('20 SIGHUPs in a row never stop superd', async () => {
    const [p] = (await freePorts(1)) as [number];
    const d = await daemon({ services: { 'a.conf': cat('a', p) } });
    for (let i = 0; i < 20; i++) d.proc.kill('SIGHUP');
    await d.waitFor((r) => r.event === 'reload', 'a reload');
    assert.equal((await exchange(p, 'still serving')).data.toString(), 'still serving');
    assert.equal(d.proc.exitCode, null, 'superd is alive');
    assert.equal(d.proc.signalCode, null);
    // Stopped, and its stderr read to the end: every reload it ever ran is in the log now.
    assert.deepEqual(await d.stop('SIGTERM'), { code: 0, signal: null });
    await d.logComplete();
    // How many reloads 20 SIGHUPs make depends on scheduling: the kernel keeps
    // at most one SIGHUP pending, and superd makes all that come during a reload
    // one more reload after it. What holds: at least one, never more than one
    // per SIGHUP, and each a clean reload of the unchanged file.
    const reloads = d.logs.filter((r) => r.event === 'reload');
    assert.ok(reloads.length >= 1 && reloads.length <= 20, `${reloads.length} reloads`);
    for (const r of reloads) assert.deepEqual([r.added, r.changed, r.removed, r.unchanged, r.errors], [0, 0, 0, 1, 0], JSON.stringify(r));
    assert.ok(d.logs.some((r) => r.event === 'stopped'), 'stopped is logged');
  });
});

describe('superd reload', { timeout: 120000 }, () => {
  test('`superd reload --pid-file F` makes the daemon reload and exits 0', async () => {
    const [p1, p2] = (await freePorts(2)) as [number, number];
    const d = await daemon({ services: { 'a.conf': cat('a', p1) } });
    await d.writeService('b.conf', cat('b', p2));
    const r = await runSuperd(['reload', '--pid-file', d.pidFile, '--control-socket', d.controlSocket]);
    assert.equal(r.code, 0, `stderr: ${r.stderr}`);
    const summary = await d.waitFor((x) => x.event === 'reload', 'reload record');
    assert.equal(summary.added, 1);
    assert.equal((await exchange(p2, 'b')).data.toString(), 'b');
  });

  test('`superd reload` with a missing pid file: exit 1 and a clear message', async () => {
    const dir = await scratch();
    const pidFile = join(dir, 'nope.pid');
    const r = await runSuperd(['reload', '--pid-file', pidFile]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(pidFile), `stderr names the pid file: ${r.stderr}`);
    assert.match(r.stderr, /not exist|no such file|not running/i);
  });

  test('`superd reload` with a dead pid: exit 1 and a clear message', async () => {
    const dir = await scratch();
    const child = spawn('/bin/true');
    const deadPid = child.pid ?? 0;
    await new Promise((r) => child.once('exit', r));
    const pidFile = join(dir, 'dead.pid');
    await writeFile(pidFile, `${deadPid}\n`);
    const r = await runSuperd(['reload', '--pid-file', pidFile]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(String(deadPid)), `stderr names the pid: ${r.stderr}`);
    assert.match(r.stderr, /not running|no (such )?process/i);
  });
});

describe('superd status', { timeout: 120000 }, () => {
  test('prints a table with each service and address; --json gives the services with accepted counts', async () => {
    const [p1, p2] = (await freePorts(2)) as [number, number];
    const d = await daemon({ services: { 'a.conf': cat('alpha', p1), 'b.conf': cat('beta', p2) } });
    assert.equal((await exchange(p1, 'x')).data.toString(), 'x');
    await d.waitFor((r) => r.event === 'exited' && r.service === 'alpha', 'alpha handler exited');

    const table = await runSuperd(['status', '--control-socket', d.controlSocket]);
    assert.equal(table.code, 0, `stderr: ${table.stderr}`);
    const lines = table.stdout.split('\n');
    for (const [name, port] of [['alpha', p1], ['beta', p2]] as const) {
      const row = lines.find((l) => l.split(/\s+/).includes(name));
      assert.ok(row !== undefined, `a row for ${name} in:\n${table.stdout}`);
      assert.ok(row.includes(`127.0.0.1:${port}`), `the row for ${name} has its address: ${row}`);
    }

    const json = await runSuperd(['status', '--json', '--control-socket', d.controlSocket]);
    assert.equal(json.code, 0, `stderr: ${json.stderr}`);
    const parsed: unknown = JSON.parse(json.stdout);
    const services: unknown = Array.isArray(parsed) ? parsed : (parsed as { services?: unknown }).services;
    assert.ok(Array.isArray(services), `JSON has a services list: ${json.stdout}`);
    const byName = new Map<string, Record<string, unknown>>();
    for (const s of services as unknown[]) {
      const rec = s as Record<string, unknown>;
      byName.set(String(rec.name), rec);
    }
    assert.deepEqual([...byName.keys()].sort(), ['alpha', 'beta']);
    assert.equal(byName.get('alpha')?.accepted, 1);
    assert.equal(byName.get('beta')?.accepted, 0);
    assert.ok(String(byName.get('beta')?.address).includes(String(p2)));
  });

  test('status with no daemon: exit 1 and a message', async () => {
    const dir = await scratch();
    const sock = join(dir, 'none.sock');
    const r = await runSuperd(['status', '--control-socket', sock]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(sock), `stderr names the socket: ${r.stderr}`);
    assert.equal(r.stdout, '');
  });
});

describe('--log-file', { timeout: 120000 }, () => {
  test('log lines go to the file, not stderr; after rename + SIGUSR2 new lines go to a new file', async () => {
    const dir = await scratch();
    const logFile = join(dir, 'superd.log');
    const d = await daemon({ args: ['--log-file', logFile], waitStarted: false });
    assert.ok(
      await eventually(async () => (await readJsonLog(logFile)).some((r) => r.event === 'started'), 10000),
      `started in ${logFile}`,
    );
    assert.deepEqual(d.logs, [], 'no JSON records on stderr');
    assert.deepEqual(d.otherStderr, [], 'nothing else on stderr');

    await rename(logFile, `${logFile}.1`);
    d.proc.kill('SIGUSR2');
    // Give the reopen its moment before the next signal (pending signals are not delivered in send order).
    await eventually(() => existsSync(logFile), 15000);
    d.proc.kill('SIGHUP');
    assert.ok(
      await eventually(async () => (await readJsonLog(logFile)).some((r) => r.event === 'reload'), 15000),
      `reload logged in the new ${logFile}: ${await readFile(logFile, 'utf8').catch(() => '(missing)')}`,
    );
    const rotated = await readJsonLog(`${logFile}.1`);
    assert.ok(rotated.some((r) => r.event === 'started'), 'the old file keeps the old lines');
    assert.ok(!rotated.some((r) => r.event === 'reload'), 'no new lines in the renamed file');
    assert.deepEqual(d.logs, []);

    d.proc.kill('SIGTERM');
    assert.deepEqual(await within(d.exited, 30000, 'exit'), { code: 0, signal: null });
    assert.ok((await readJsonLog(logFile)).some((r) => r.event === 'stopped'), 'stopped is in the new file');
  });
});

describe('services dir', { timeout: 120000 }, () => {
  test('missing at start: exit 1 with a message naming the dir', async () => {
    const dir = await scratch();
    const missing = join(dir, 'no-such-services.d');
    const pidFile = join(dir, 'p.pid');
    // Bounded, but not tightly: a loaded host takes seconds to start node.
    const r = await runSuperd(['run', '-d', missing, '--pid-file', pidFile, '--control-socket', join(dir, 'c.sock'), '--log-format', 'json'], {
      timeoutMs: 30000,
    });
    assert.equal(r.timedOut, false, 'superd gave up by itself');
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(missing), `stderr names ${missing}: ${r.stderr}`);
    assert.equal(existsSync(pidFile), false, 'no pid file for a daemon that never started');
  });

  test('zero services: superd keeps running and serves a service added later on reload', async () => {
    const d = await daemon();
    const started = await d.waitFor((r) => r.event === 'started', 'started');
    assert.equal(started.services, 0);
    // Its event loop runs on with nothing bound: a reload is still carried out.
    const [p] = (await freePorts(1)) as [number];
    await d.writeService('late.conf', cat('late', p));
    const summary = await d.reload();
    assert.equal(d.proc.exitCode, null, 'an idle superd with nothing to serve stays up');
    assert.equal(summary.added, 1);
    assert.equal((await exchange(p, 'late')).data.toString(), 'late');
  });

  test('reloads of an empty dir are clean; a directory named x.conf is skipped, not an error', async () => {
    const d = await daemon();
    for (let i = 0; i < 3; i++) {
      const s = await d.reload();
      assert.equal(s.added, 0);
      assert.equal(s.errors, 0);
    }
    await mkdir(join(d.servicesDir, 'sub.conf'));
    const s = await d.reload();
    assert.equal(s.errors, 0, 'a directory named *.conf is not a service file and not an error');
    assert.equal(d.proc.exitCode, null);
  });
});
