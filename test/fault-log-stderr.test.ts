// Issue 14: logging never takes superd down. Standard error whose reader has
// gone (`superd run 2>&1 | head -1`, a supervisor restarted), a --log-file
// that cannot be written (ENOSPC, its directory removed and a SIGUSR2 reopen
// failing): superd says so once where it still can, counts what it dropped,
// and keeps serving.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exchange, freePorts } from './helpers/clients.js';
import { readJsonLog, serviceFile, startDaemon, SUPERD, tempDir, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { fdCount, processExists } from './helpers/proc.js';
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

/** A few connections (each logs `accepted` and `exited`), each answered. */
async function serveSome(port: number, count = 3): Promise<void> {
  for (let i = 0; i < count; i++) {
    const r = await exchange(port, `hello ${i}\n`, { timeoutMs: 5000 });
    assert.equal(r.data.toString(), `hello ${i}\n`, `connection ${i} answered (${r.how})`);
  }
}

describe('standard error whose reader has gone', { timeout: 60000 }, () => {
  test('a real pipe (`superd run 2>&1 | head -n 1`): superd keeps serving, and exits 0 on SIGTERM', async () => {
    const dir = await scratch();
    const { services, port } = await catService();
    const servicesDir = join(dir, 'services.d');
    await mkdir(servicesDir);
    await writeFile(join(servicesDir, 'cat.conf'), services['cat.conf'] ?? '');
    const pidFile = join(dir, 'superd.pid');
    // bash gives superd's own exit status (PIPESTATUS), not head's.
    const shell = spawn(
      '/bin/bash',
      ['-c', '"$@" 2>&1 | head -n 1 >/dev/null; exit "${PIPESTATUS[0]}"', 'bash', process.execPath, SUPERD, 'run', '-d', servicesDir, '--pid-file', pidFile, '--control-socket', join(dir, 'c.sock')],
      { stdio: 'ignore', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
    );
    const shellExit = new Promise<number | null>((resolve) => shell.on('exit', (code) => resolve(code)));
    let pid = 0;
    try {
      assert.ok(await eventually(() => existsSync(pidFile), 10000), 'superd wrote its pid file');
      pid = Number((await readFile(pidFile, 'utf8')).trim());
      // head has read its line and gone by now; every line after it meets EPIPE.
      await new Promise((r) => setTimeout(r, 300));
      await serveSome(port);
      assert.ok(processExists(pid), 'superd is alive after logging into a pipe with no reader');
      process.kill(pid, 'SIGTERM');
      assert.equal(await within(shellExit, 15000, 'superd exits after SIGTERM'), 0);
    } finally {
      if (pid > 0 && processExists(pid)) process.kill(pid, 'SIGKILL');
      shell.kill('SIGKILL');
    }
  });

  test('a socket whose reader closed it: superd keeps serving, and exits 0 on SIGTERM', async () => {
    const { services, port } = await catService();
    const d = await startDaemon({ services });
    daemons.push(d);
    await d.waitFor((r) => r.event === 'listening' && r.service === 'cat', 'cat listening');
    const fds = await fdCount(d.pid);
    d.proc.stderr?.destroy();
    await serveSome(port);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(processExists(d.pid), 'superd is alive');
    await serveSome(port);
    assert.ok(await eventually(async () => (await fdCount(d.pid)) <= fds, 3000), `descriptors back to ${fds}`);
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
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(d.logs.filter((r) => r.event === 'log_failed').length, 1, 'said once');
    assert.ok(await eventually(async () => (await fdCount(d.pid)) <= fds, 3000), `descriptors back to ${fds}`);
    assert.deepEqual(d.otherStderr, [], 'nothing else on stderr');
    assert.ok(processExists(d.pid));
    assert.deepEqual(await d.stop('SIGTERM'), { code: 0, signal: null });
    daemons.splice(daemons.indexOf(d), 1);
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
      await new Promise((r) => setTimeout(r, 200));
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
    assert.deepEqual(d.otherStderr, [], 'nothing but log_failed on stderr');
    assert.deepEqual(await d.stop('SIGTERM'), { code: 0, signal: null });
    daemons.splice(daemons.indexOf(d), 1);
  });
});
