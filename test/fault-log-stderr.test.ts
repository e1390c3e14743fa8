// Issue 14: logging never takes superd down. Standard error whose reader has
// gone (`superd run 2>&1 | head -1`, a supervisor restarted), a --log-file
// that cannot be written (ENOSPC, its directory removed and a SIGUSR2 reopen
// failing): superd says so once where it still can, counts what it dropped,
// and keeps serving.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exchange, freePorts } from './helpers/clients.js';
import { readJsonLog, serviceFile, startDaemon, SUPERD, tempDir, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { childrenOf, fdCount, processExists, runProgram } from './helpers/proc.js';
import { eventually, within } from './helpers/wait.js';

const daemons: DaemonHandle[] = [];
const dirs: string[] = [];
after(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.stop('SIGKILL')));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function scratch(): Promise<string> {
  const dir = await tempDir('superd-logfault-');
  dirs.push(dir);
  return dir;
}

/** One /bin/cat service on a port that was free a moment ago. */
async function catService(): Promise<{ services: Record<string, string>; port: number }> {
  const [port = 0] = await freePorts(1);
  return { services: { 'cat.conf': serviceFile('cat', { port, bind: '127.0.0.1', server: '/bin/cat' }) }, port };
}

/**
 * Who holds `link` (what /proc/PID/fd/N reads: a FIFO's path, `pipe:[N]`) open for reading, as `pid:fd`, among the
 * processes whose descriptors this user may see (any that could hold a pipe
 * made by this test).
 */
async function readersOf(link: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) !== link) continue;
      const info = await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8').catch(() => '');
      const flags = Number.parseInt(/^flags:\s+([0-7]+)/m.exec(info)?.[1] ?? '1', 8);
      // O_WRONLY (1) only writes; O_RDONLY (0) and O_RDWR (2) read.
      if ((flags & 3) !== 1) found.push(`${pid}:${fd}`);
    }
  }
  return found;
}

/** A few connections (each logs `accepted` and `exited`), each answered. */
async function serveSome(port: number, count = 3): Promise<void> {
  for (let i = 0; i < count; i++) {
    const r = await exchange(port, `hello ${i}\n`, { timeoutMs: 5000 });
    assert.equal(r.data.toString(), `hello ${i}\n`, `connection ${i} answered (${r.how})`);
  }
}

describe('standard error whose reader has gone', { timeout: 60000 }, () => {
  test('a pipe whose reader has gone (as after `superd run 2>&1 | head -n 1`): EPIPE, superd keeps serving, writes there no more, and exits 0 on SIGTERM', async () => {
    const dir = await scratch();
    const { services, port } = await catService();
    const servicesDir = join(dir, 'services.d');
    await mkdir(servicesDir);
    await writeFile(join(servicesDir, 'cat.conf'), services['cat.conf'] ?? '');
    const pidFile = join(dir, 'superd.pid');
    // A FIFO is a pipe with a name: its read end can be closed and opened again at will.
    const fifo = join(dir, 'stderr.fifo');
    const made = await runProgram('mkfifo', [fifo]);
    assert.equal(made.code, 0, made.stderr);
    // Its reader gone before superd starts: superd's first log line (`listening`,
    // written before its pid file) meets EPIPE, so by the time the pid file is
    // there, superd has taken the EPIPE path; everything below comes after it.
    const firstReader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY);
    closeSync(firstReader);
    const superd = spawn(process.execPath, [SUPERD, 'run', '-d', servicesDir, '--pid-file', pidFile, '--control-socket', join(dir, 'c.sock')], {
      stdio: ['ignore', 'ignore', writer],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    closeSync(writer);
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => superd.on('exit', (code, signal) => resolve({ code, signal })));
    let reader = -1;
    let pid = 0;
    try {
      assert.ok(await eventually(async () => (pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim())) > 0, 10000), 'superd wrote its pid file');
      assert.equal(pid, superd.pid);
      assert.equal(await readlink(`/proc/${pid}/fd/2`), fifo, "superd's standard error is the FIFO");
      assert.deepEqual(await readersOf(fifo), [], "nobody reads superd's standard error: each write there is EPIPE");
      await serveSome(port);
      assert.ok(processExists(pid), 'superd is alive after logging into a pipe with no reader');

      // A reader again: a superd still writing its log there would write at
      // least its shutdown lines to it. It gave up on EPIPE: nothing comes
      // before the end of file its exit makes.
      reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      process.kill(pid, 'SIGTERM');
      assert.deepEqual(await within(exit, 15000, 'superd exits after SIGTERM'), { code: 0, signal: null });
      let read = '';
      const buf = Buffer.alloc(65536);
      assert.ok(
        await eventually(() => {
          for (;;) {
            let n: number;
            try {
              n = readSync(reader, buf, 0, buf.length, null);
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return false; // a writer still open
              throw err;
            }
            if (n === 0) return true;
            read += buf.subarray(0, n).toString();
          }
        }, 15000),
        'end of file once superd has exited',
      );
      assert.equal(read, '', 'superd wrote nothing more to its standard error after EPIPE');
    } finally {
      if (reader >= 0) closeSync(reader);
      if (pid > 0 && processExists(pid)) process.kill(pid, 'SIGKILL');
      superd.kill('SIGKILL');
    }
  });

  test('a socket whose reader closed it: superd keeps serving, and exits 0 on SIGTERM', async () => {
    const { services, port } = await catService();
    const d = await startDaemon({ services });
    daemons.push(d);
    await d.waitFor((r) => r.event === 'listening' && r.service === 'cat', 'cat listening');
    const fds = await fdCount(d.pid);
    const stream = d.proc.stderr;
    assert.ok(stream !== null);
    const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
    stream.destroy();
    await within(closed, 15000, 'our end of its stderr closed');
    await serveSome(port);
    // Served again after those lines were logged into a socket nobody reads: still alive.
    await serveSome(port);
    assert.ok(processExists(d.pid), 'superd is alive');
    assert.ok(await eventually(async () => (await fdCount(d.pid)) <= fds, 15000), `descriptors back to ${fds}`);
    assert.deepEqual(await d.stop('SIGTERM'), { code: 0, signal: null });
    daemons.splice(daemons.indexOf(d), 1);
  });
});

describe('a --log-file that cannot be written', { timeout: 60000 }, () => {
  test('ENOSPC (/dev/full): one log_failed on stderr however many lines are lost, and superd serves', async () => {
    const { services, port } = await catService();
    const d = await startDaemon({ services, args: ['--log-file', '/dev/full'], waitStarted: false });
    daemons.push(d);
    const failed = await d.waitFor((r) => r.event === 'log_failed', 'log_failed on stderr');
    assert.equal(failed.level, 'error');
    assert.equal(failed.file, '/dev/full');
    assert.match(String(failed.error), /ENOSPC|no space/i);
    await serveSome(port, 5);
    const fds = await fdCount(d.pid);
    // A line 5 s on tries the file again (and fails again): not said again, no descriptor kept.
    await new Promise((r) => setTimeout(r, 5200));
    await serveSome(port, 2);
    assert.equal(d.logs.filter((r) => r.event === 'log_failed').length, 1, 'said once');
    assert.ok(await eventually(async () => (await fdCount(d.pid)) <= fds, 15000), `descriptors back to ${fds}`);
    assert.ok(processExists(d.pid));
    assert.deepEqual(await d.stop('SIGTERM'), { code: 0, signal: null });
    daemons.splice(daemons.indexOf(d), 1);
    // Its stderr read to the end: nothing can come later.
    await d.logComplete();
    assert.equal(d.logs.filter((r) => r.event === 'log_failed').length, 1, 'said once, to the end');
    assert.deepEqual(d.otherStderr, [], 'nothing else on stderr');
  });

  test('its directory removed, then SIGUSR2: said once, lines counted, and the count is the first line once it can be written again', async () => {
    const dir = await scratch();
    const { services, port } = await catService();
    const logDir = join(dir, 'logs');
    await mkdir(logDir);
    const logFile = join(logDir, 'superd.log');
    const d = await startDaemon({ services, args: ['--log-file', logFile], waitStarted: false });
    daemons.push(d);
    const logged = async (pred: (r: LogRecord) => boolean, what: string): Promise<LogRecord[]> => {
      let recs: LogRecord[] = [];
      assert.ok(await eventually(async () => (recs = await readJsonLog(logFile)).some(pred), 10000), `${what} in ${logFile}: ${d.otherStderr.join('\n')}`);
      return recs;
    };
    await logged((r) => r.event === 'started', 'started');

    const lose = async (episode: number): Promise<void> => {
      await rm(logDir, { recursive: true, force: true });
      d.proc.kill('SIGUSR2');
      await d.waitForCount((r) => r.event === 'log_failed', episode, `log_failed #${episode} on stderr`);
      await serveSome(port, 3); // 6 lines lost: accepted and exited, 3 times
      // The last `exited` is logged when superd reaps that handler, which may be
      // after its client has seen the end: lost only once superd has no child left.
      let children: { pid: number; state: string }[] = [];
      assert.ok(await eventually(async () => (children = await childrenOf(d.pid)).length === 0, 10000), `superd reaped its handlers: ${JSON.stringify(children)}`);
      // Not said again so far; the count once superd has exited says it was not said again later either.
      assert.equal(d.logs.filter((r) => r.event === 'log_failed').length, episode, 'said once per failure');
      assert.ok(processExists(d.pid));
    };

    await lose(1);
    const failed = d.logs.find((r) => r.event === 'log_failed');
    assert.equal(failed?.file, logFile);
    assert.match(String(failed?.error), /ENOENT|no such file/i);

    // SIGUSR2 once the directory is back: the new file starts with what was lost.
    await mkdir(logDir);
    d.proc.kill('SIGUSR2');
    await serveSome(port, 1);
    let recs = await logged((r) => r.event === 'exited', 'a line after the reopen');
    assert.equal(recs[0]?.event, 'log_dropped', `first line: ${JSON.stringify(recs[0])}`);
    assert.equal(recs[0]?.reason, 'write_error');
    assert.ok(Number(recs[0]?.count) >= 6, `count ${String(recs[0]?.count)} covers the 6 lines lost`);

    // A second failure is a new episode (a write succeeded since): said again.
    await lose(2);
    // Without a SIGUSR2 the file is tried again when a line comes, every 5 s at most.
    await mkdir(logDir);
    await new Promise((r) => setTimeout(r, 5200));
    await serveSome(port, 1);
    recs = await logged((r) => r.event === 'exited', 'a line after the retry');
    assert.equal(recs[0]?.event, 'log_dropped', `first line after the retry: ${JSON.stringify(recs[0])}`);
    assert.ok(Number(recs[0]?.count) >= 6);
    assert.deepEqual(await d.stop('SIGTERM'), { code: 0, signal: null });
    daemons.splice(daemons.indexOf(d), 1);
    // Its stderr read to the end: two failures, each said once.
    await d.logComplete();
    assert.equal(d.logs.filter((r) => r.event === 'log_failed').length, 2, 'said once per failure, to the end');
    assert.deepEqual(d.otherStderr, [], 'nothing but log_failed on stderr');
  });
});
