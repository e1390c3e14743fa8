// Issue 14: a handler that floods its stderr (`stderr = log`) must not starve
// the other services: superd reads the pipe only as fast as the log takes the
// lines, drops none, and a run of empty lines is one event. How promptly the
// others answer and how far superd's memory grows meanwhile are measured by
// `npm run bench`, not asserted here (bench/README.md).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { exchange, freePorts } from './helpers/clients.js';
import { readJsonLog, serviceFile, startDaemon, tempDir, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { fdCount, processExists } from './helpers/proc.js';
import { eventually } from './helpers/wait.js';

const daemons: DaemonHandle[] = [];
const dirs: string[] = [];
after(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.stop('SIGTERM')));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/**
 * superd with --log-file (stderr is then not the log, so startServices cannot
 * watch it): every service on a fresh port, started again on new ports if one
 * was taken meanwhile.
 */
async function startLogging(defs: Record<string, Record<string, string | number>>): Promise<{ d: DaemonHandle; port: Record<string, number>; logFile: string }> {
  const names = Object.keys(defs);
  for (let attempt = 1; ; attempt++) {
    const dir = await tempDir('superd-flood-');
    dirs.push(dir);
    const logFile = join(dir, 'superd.log');
    const ports = await freePorts(names.length);
    const port: Record<string, number> = {};
    const services: Record<string, string> = {};
    names.forEach((name, i) => {
      port[name] = ports[i] ?? 0;
      services[`${name}.conf`] = serviceFile(name, { bind: '127.0.0.1', ...defs[name], port: ports[i] ?? 0 });
    });
    // The young generation bin/superd's first line gives it (a test starts node itself).
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_OPTIONS: '--max-semi-space-size=1' };
    const d = await startDaemon({ services, args: ['--log-file', logFile], waitStarted: false, env });
    daemons.push(d);
    let log: LogRecord[] = [];
    const up = await eventually(async () => (log = await readJsonLog(logFile)).some((r) => r.event === 'started'), 10000);
    assert.ok(up, `superd did not start: ${d.otherStderr.join('\n')}`);
    if (!log.some((r) => r.event === 'bind_failed')) return { d, port, logFile };
    await d.stop();
    daemons.splice(daemons.indexOf(d), 1);
    if (attempt >= 4) assert.fail('a port was taken on every attempt');
  }
}

/** One echo exchange with /bin/cat: the line comes back whole. */
async function echo(port: number): Promise<void> {
  const r = await exchange(port, 'ping\n', { timeoutMs: 5000 });
  assert.equal(r.data.toString(), 'ping\n', `cat answered ${JSON.stringify(r.data.toString())} (${r.how})`);
}

for (const [what, args] of [
  ['empty lines (yes "")', `-c 'yes "" >&2'`],
  ['short lines (yes x)', `-c 'yes x >&2'`],
] as const) {
  describe(`a handler flooding stderr with ${what}, --log-file`, { timeout: 60000 }, () => {
    test('other services answer while it floods, nothing is dropped, everything is back once it is killed', async () => {
      const { d, port, logFile } = await startLogging({
        flood: { server: '/bin/sh', args, timeout: 3 },
        cat: { server: '/bin/cat' },
      });
      // Warm up; the baseline once those handlers are reaped (their `exited` is logged).
      for (let i = 0; i < 5; i++) await echo(port.cat ?? 0);
      assert.ok(
        await eventually(async () => (await readJsonLog(logFile)).filter((r) => r.event === 'exited' && r.service === 'cat').length === 5, 10000),
        'the five warm-up handlers exited',
      );
      const fdsBefore = await fdCount(d.pid);

      const flood = exchange(port.flood ?? 0, '', { timeoutMs: 20000, halfClose: false });
      let floodEnded = false;
      void flood.then(() => (floodEnded = true));
      // The flood is under way once its first line is in the log (read while the log is still small).
      assert.ok(
        await eventually(async () => floodEnded || (await readJsonLog(logFile)).some((r) => r.event === 'stderr' && r.service === 'flood'), 10000),
        'the flood handler writes and superd logs it',
      );
      assert.equal(floodEnded, false, 'the flood handler still runs');
      // Served while the flood handler runs: each exchange completes before it is ended.
      let during = 0;
      while (!floodEnded && during < 200) {
        await echo(port.cat ?? 0);
        if (!floodEnded) during += 1;
      }
      await flood;
      assert.ok(processExists(d.pid), 'superd is alive');
      assert.ok(during >= 1, 'cat answered while the flood ran');

      // The flood handler was ended by its timeout; its lines were logged.
      let log: LogRecord[] = [];
      assert.ok(
        await eventually(async () => (log = await readJsonLog(logFile)).some((r) => r.event === 'exited' && r.service === 'flood'), 10000),
        'the flood handler exited',
      );
      const lines = log.filter((r) => r.event === 'stderr' && r.service === 'flood');
      assert.ok(lines.length > 0, 'its stderr was logged');
      // The handler was slowed down to the log's pace: nothing had to be dropped.
      assert.deepEqual(log.filter((r) => r.event === 'log_dropped'), []);
      if (args.includes('""')) {
        assert.ok(lines.every((r) => r.message === ''), 'only empty lines');
        // A run of empty lines is one event that says how many.
        const counted = lines.reduce((n, r) => n + (typeof r.lines === 'number' ? r.lines : 1), 0);
        assert.ok(counted > lines.length * 10, `${lines.length} events for ${counted} empty lines`);
      }

      assert.ok(await eventually(async () => (await fdCount(d.pid)) <= fdsBefore, 15000), `fds back to ${fdsBefore}: ${await fdCount(d.pid)}`);
      await echo(port.cat ?? 0);
      assert.deepEqual(await d.stop(), { code: 0, signal: null });
      daemons.splice(daemons.indexOf(d), 1);
    });
  });
}
