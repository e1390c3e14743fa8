// Issue 23, trust boundaries: the --log-file (SPEC §1: "created 0640, never
// through a symlink"). superd runs as root and the log's directory may be one
// others can write, or the file replaced while it is rotated: a symlink at the
// path is refused at start (exit 1) and, after start, on every SIGUSR2 reopen
// and retry, without superd stopping; what it points to is never written.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readFile, readlink, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { exchange, freePorts } from './helpers/clients.js';
import { assertStillServes, readJsonLog, runSuperd, serviceFile, startDaemon, tempDir, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { processExists } from './helpers/proc.js';
import { eventually, within } from './helpers/wait.js';

const CAT = { protocol: 'tcp', bind: '127.0.0.1', server: '/bin/cat' };
const SYMLINK_REFUSED = /is a symlink: superd does not log through symlinks/;

const daemons: DaemonHandle[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.stop('SIGKILL')));
});
after(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A directory anyone can write (as /var/log may be to a group, or /tmp), and a file there that must survive: the victim. */
async function sharedWithVictim(): Promise<{ shared: string; victim: string }> {
  const base = await tempDir('superd-fault-logfile-');
  dirs.push(base);
  const shared = join(base, 'shared');
  await mkdir(shared);
  await chmod(shared, 0o1777);
  const victim = join(base, 'victim');
  await writeFile(victim, 'precious\n', { mode: 0o600 });
  await chmod(victim, 0o600);
  return { shared, victim };
}

async function assertUntouched(victim: string): Promise<void> {
  assert.equal(await readFile(victim, 'utf8'), 'precious\n', 'the victim keeps its content');
  assert.equal((await stat(victim)).mode & 0o7777, 0o600, 'the victim keeps its mode');
}

/** Waits until the log file holds a record matching pred; its records. */
async function logged(file: string, pred: (r: LogRecord) => boolean, what: string, ms = 10000): Promise<LogRecord[]> {
  let recs: LogRecord[] = [];
  assert.ok(await eventually(async () => (recs = await readJsonLog(file)).some(pred), ms), `${what} in ${file}: ${JSON.stringify(recs.slice(-5))}`);
  return recs;
}

describe('--log-file: its mode', { timeout: 60000 }, () => {
  test('created 0640 even under umask 000; an existing file keeps its mode and its lines', async () => {
    const { shared } = await sharedWithVictim();
    const created = join(shared, 'created.log');
    // superd's own umask is 022 only once it has started: the mode must be asked for, not left to the umask.
    const d = await startDaemon({ args: ['--log-file', created], waitStarted: false, launcher: ['/bin/sh', '-c', 'umask 000; exec "$@"', 'sh'] });
    daemons.push(d);
    await logged(created, (r) => r.event === 'started', 'started');
    assert.equal((await stat(created)).mode & 0o7777, 0o640);
    assert.deepEqual(await d.stop('SIGTERM'), { code: 0, signal: null });

    const existing = join(shared, 'existing.log');
    await writeFile(existing, 'an earlier line\n');
    await chmod(existing, 0o600);
    const e = await startDaemon({ args: ['--log-file', existing], waitStarted: false });
    daemons.push(e);
    await logged(existing, (r) => r.event === 'started', 'started');
    assert.equal((await stat(existing)).mode & 0o7777, 0o600, 'not chmod-ed');
    assert.ok((await readFile(existing, 'utf8')).startsWith('an earlier line\n'), 'appended to');
  });
});

describe('--log-file: a symlink at the path at start', { timeout: 60000 }, () => {
  const start = (base: string, logFile: string): ReturnType<typeof runSuperd> =>
    runSuperd(['run', '-d', join(base, 'services.d'), '--pid-file', join(base, 'superd.pid'), '--control-socket', join(base, 'c.sock'), '--log-format', 'json', '--log-file', logFile], {
      timeoutMs: 10000,
    });

  test('to an existing file: exit 1 saying why, the file untouched, nothing started', async () => {
    const { shared, victim } = await sharedWithVictim();
    const base = join(shared, '..');
    await mkdir(join(base, 'services.d'));
    const link = join(shared, 'superd.log');
    await symlink(victim, link);
    const r = await start(base, link);
    assert.equal(r.timedOut, false, `superd ran on; stderr: ${r.stderr}`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^superd: cannot start: .*superd\.log is a symlink: superd does not log through symlinks/m);
    await assertUntouched(victim);
    assert.equal(await readlink(link), victim, 'the link is left as it was');
    assert.equal(existsSync(join(base, 'superd.pid')), false, 'no pid file');
    assert.equal(existsSync(join(base, 'c.sock')), false, 'no control socket');
  });

  test('dangling: its target is not created', async () => {
    const { shared } = await sharedWithVictim();
    const base = join(shared, '..');
    await mkdir(join(base, 'services.d'));
    const target = join(base, 'would-be-created');
    const link = join(shared, 'superd.log');
    await symlink(target, link);
    const r = await start(base, link);
    assert.equal(r.timedOut, false, `superd ran on; stderr: ${r.stderr}`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, SYMLINK_REFUSED);
    assert.equal(existsSync(target), false);
  });
});

describe('--log-file: a symlink put in its place after start (logrotate, then a hostile link)', { timeout: 90000 }, () => {
  test('SIGUSR2 and the retries refuse it: the victim untouched, superd serves and says why; a real file and SIGUSR2 again: logging resumes', async () => {
    const { shared, victim } = await sharedWithVictim();
    const logFile = join(shared, 'superd.log');
    const [echo = 0] = await freePorts(1);
    const d = await startDaemon({ services: { 'echo.conf': serviceFile('echo', { ...CAT, port: echo }) }, args: ['--log-file', logFile], waitStarted: false });
    daemons.push(d);
    const first = await logged(logFile, (r) => r.event === 'started', 'started');
    assert.ok(first.some((r) => r.event === 'listening' && r.service === 'echo'), `echo listening: ${JSON.stringify(first)}`);
    assert.equal((await stat(logFile)).mode & 0o7777, 0o640);

    // logrotate's create-less rotation, and someone quick in the shared directory.
    await rename(logFile, `${logFile}.1`);
    await symlink(victim, logFile);
    d.proc.kill('SIGUSR2');
    // A connection's lines are what would go through the link: until superd says it refused it, or they went through.
    await assertStillServes(d, echo);
    const victimWritten = async (): Promise<boolean> => (await readFile(victim, 'utf8')) !== 'precious\n';
    await eventually(async () => d.logs.some((r) => r.event === 'log_failed') || (await victimWritten()), 10000);
    await assertUntouched(victim);
    const failed = await d.waitFor((r) => r.event === 'log_failed', 'log_failed on stderr');
    assert.equal(failed.level, 'error');
    assert.equal(failed.file, logFile);
    assert.match(String(failed.error), SYMLINK_REFUSED);

    // Lines keep coming for longer than the retry interval (5 s): each retry is refused too, and said once.
    const until = Date.now() + 5600;
    while (Date.now() < until) {
      assert.equal((await exchange(echo, 'x')).data.toString(), 'x');
      await new Promise((r) => setTimeout(r, 200));
    }
    d.proc.kill('SIGUSR2');
    await assertStillServes(d, echo);
    await assertUntouched(victim);
    assert.equal(d.logs.filter((r) => r.event === 'log_failed').length, 1, 'said once for the episode');
    assert.ok(processExists(d.pid));
    assert.ok((await lstat(logFile)).isSymbolicLink(), 'the link is left as it was');
    const rotated = await readJsonLog(`${logFile}.1`);
    assert.ok(!rotated.some((r) => r.event === 'exited'), 'nothing written into the rotated file after the reopen');

    // The operator removes the link: the next SIGUSR2 makes a new file, which starts with what was lost.
    await unlink(logFile);
    d.proc.kill('SIGUSR2');
    await eventually(() => existsSync(logFile), 15000);
    await assertStillServes(d, echo);
    const recs = await logged(logFile, (r) => r.event === 'exited', 'a connection logged in the new file');
    assert.equal(recs[0]?.event, 'log_dropped', `first line: ${JSON.stringify(recs[0])}`);
    assert.match(String(recs[0]?.error), SYMLINK_REFUSED);
    assert.equal((await lstat(logFile)).mode & 0o7777, 0o640);
    assert.ok((await lstat(logFile)).isFile());
    await assertUntouched(victim);
    assert.deepEqual(d.otherStderr, [], 'nothing but log_failed on stderr');
    assert.deepEqual(await d.stop('SIGTERM'), { code: 0, signal: null });
    daemons.splice(daemons.indexOf(d), 1);
  });
});

describe('--log-file: what is not a regular file', { timeout: 60000 }, () => {
  test('a FIFO still works: lines reach its reader', async () => {
    const { shared } = await sharedWithVictim();
    const fifo = join(shared, 'superd.fifo');
    const made = spawn('mkfifo', ['-m', '0600', fifo]);
    assert.equal(await within(new Promise((r) => made.once('exit', r)), 15000, 'mkfifo'), 0);
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] });
    let read = '';
    reader.stdout.setEncoding('utf8').on('data', (s: string) => (read += s));
    try {
      const d = await startDaemon({ args: ['--log-file', fifo], waitStarted: false });
      daemons.push(d);
      assert.ok(await eventually(() => read.includes('"event":"started"'), 10000), `started read from the FIFO: ${read}`);
      assert.deepEqual(d.logs, [], 'nothing logged on stderr');
    } finally {
      reader.kill('SIGKILL');
    }
  });

  test('a block device at start: exit 1 saying so, never opened for writing', async (t) => {
    const { shared } = await sharedWithVictim();
    const base = join(shared, '..');
    await mkdir(join(base, 'services.d'));
    const node = join(shared, 'superd.log');
    // A loop device's numbers: a device that, where it exists, must never be written by a log.
    const made = spawn('mknod', ['-m', '0600', node, 'b', '7', '200'], { stdio: 'ignore' });
    if ((await within(new Promise((r) => made.once('exit', r)), 15000, 'mknod')) !== 0) {
      t.skip('cannot make a block device node here (no CAP_MKNOD)');
      return;
    }
    const r = await runSuperd(['run', '-d', join(base, 'services.d'), '--pid-file', join(base, 'superd.pid'), '--control-socket', join(base, 'c.sock'), '--log-file', node], { timeoutMs: 10000 });
    assert.equal(r.timedOut, false, `superd ran on; stderr: ${r.stderr}`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /superd\.log is a block device: superd logs only to a regular file, a FIFO or a character device/);
  });
});
