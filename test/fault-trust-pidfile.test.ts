// Issue 14, trust boundaries: the --pid-file. superd (often root) must never
// write through a symlink someone placed at its path, and at exit removes the
// file only while it still names superd. The module alone, then the daemon.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { removePidFile, writePidFile } from '../src/pidfile.js';
import { runSuperd, scratchDirs, startDaemon } from './helpers/daemon.js';
import { within } from './helpers/wait.js';

const scratch = scratchDirs('superd-fault-pid-');

/** A directory anyone can write (as /tmp, sticky), and a file that must survive: the victim. */
async function sharedWithVictim(): Promise<{ shared: string; victim: string }> {
  const base = await scratch();
  const shared = join(base, 'shared');
  await mkdir(shared);
  await chmod(shared, 0o1777);
  const victim = join(base, 'victim');
  await writeFile(victim, 'precious\n');
  return { shared, victim };
}

describe('writePidFile', () => {
  test('a symlink in a directory others can write: refused, nothing written through it', async () => {
    const { shared, victim } = await sharedWithVictim();
    const path = join(shared, 'superd.pid');
    await symlink(victim, path);
    const r = await writePidFile(path, 4242);
    assert.equal(r?.code, 'pid_file');
    assert.match(r?.message ?? '', /symbolic link.*other users can write/);
    assert.equal(await readFile(victim, 'utf8'), 'precious\n');
    assert.equal(await readlink(path), victim, 'the link is left as it was');
  });

  test('a symlink in a directory only we write: replaced by the file, never written through', async () => {
    const base = await scratch();
    const victim = join(base, 'victim');
    await writeFile(victim, 'precious\n');
    const path = join(base, 'superd.pid');
    await symlink(victim, path);
    assert.equal(await writePidFile(path, 4242), null);
    assert.equal(await readFile(victim, 'utf8'), 'precious\n');
    assert.ok((await lstat(path)).isFile());
    assert.equal(await readFile(path, 'utf8'), '4242\n');
  });

  test('mode 0644 whatever the umask; no temporary file left; a directory at the path is refused', async () => {
    const base = await scratch();
    const path = join(base, 'superd.pid');
    const old = process.umask(0o077);
    try {
      assert.equal(await writePidFile(path, 4242), null);
    } finally {
      process.umask(old);
    }
    assert.equal(((await lstat(path)).mode & 0o777).toString(8), '644');
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual(await readdir(base), ['superd.pid']);
    await mkdir(join(base, 'dir.pid'));
    assert.match((await writePidFile(join(base, 'dir.pid'), 1))?.message ?? '', /not a regular file/);
  });
});

describe('removePidFile', () => {
  test('only while it holds our pid; never through a symlink', async () => {
    const base = await scratch();
    const path = join(base, 'superd.pid');
    await writeFile(path, '999999\n');
    await removePidFile(path, 4242);
    assert.equal(await readFile(path, 'utf8'), '999999\n', "another process's pid file stays");
    await writeFile(path, '4242\n');
    await removePidFile(path, 4242);
    assert.equal(existsSync(path), false);
    const victim = join(base, 'victim');
    await writeFile(victim, '4242\n');
    await symlink(victim, path);
    await removePidFile(path, 4242);
    assert.ok(existsSync(path) && existsSync(victim), 'a link is not ours, even to a file that holds our pid');
  });
});

describe('the daemon and its pid file', { timeout: 120000 }, () => {
  test('--pid-file a symlink in a world-writable directory: superd refuses to start and the target is untouched', async () => {
    const { shared, victim } = await sharedWithVictim();
    const base = await scratch();
    await mkdir(join(base, 'services.d'), { mode: 0o755 });
    const link = join(shared, 'superd.pid');
    await symlink(victim, link);
    const r = await runSuperd(['run', '-d', join(base, 'services.d'), '--pid-file', link, '--control-socket', join(base, 'c.sock'), '--log-format', 'json'], { timeoutMs: 30000 });
    assert.equal(r.timedOut, false, `superd ran on; stderr: ${r.stderr}`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /symbolic link/);
    assert.equal(await readFile(victim, 'utf8'), 'precious\n');
  });

  test("a start that fails leaves another superd's pid file alone", async () => {
    const base = await scratch();
    const pidFile = join(base, 'superd.pid');
    // A live process's pid: as a running superd's file would hold.
    const other = spawn('/bin/sleep', ['30']);
    try {
      await writeFile(pidFile, `${other.pid}\n`);
      const r = await runSuperd(['run', '-d', join(base, 'missing.d'), '--pid-file', pidFile, '--control-socket', join(base, 'c.sock'), '--log-format', 'json'], { timeoutMs: 30000 });
      assert.equal(r.code, 1);
      assert.equal(await readFile(pidFile, 'utf8'), `${other.pid}\n`);
    } finally {
      other.kill('SIGKILL');
    }
  });

  test('a pid file that names another process by exit time is not removed', async () => {
    const d = await startDaemon();
    try {
      assert.equal((await readFile(d.pidFile, 'utf8')).trim(), String(d.pid));
      await writeFile(d.pidFile, '1\n');
      d.proc.kill('SIGTERM');
      assert.deepEqual(await within(d.exited, 15000, 'exit after SIGTERM'), { code: 0, signal: null });
      assert.equal(await readFile(d.pidFile, 'utf8'), '1\n');
    } finally {
      await d.stop();
    }
  });
});
