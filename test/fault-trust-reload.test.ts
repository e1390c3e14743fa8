// Issue 14 and SPEC §1: `superd reload` signals only a superd it may signal
// (a stale pid file can name any process by now), waits for the reload to
// finish and prints its summary, and every error as FILE:LINE: [service]
// message; exit 0 only without errors.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { exchange, freePorts } from './helpers/clients.js';
import { perTest, runSuperd, scratchDirs, serviceFile, unreachableByOthers, SUPERD } from './helpers/daemon.js';
import { runProgram } from './helpers/proc.js';
import { within } from './helpers/wait.js';

const isRoot = process.getuid?.() === 0;
const SETPRIV = '/usr/bin/setpriv';

const { daemon } = perTest();
const scratch = scratchDirs('superd-fault-reload-');

const cat = (name: string, port: number): string => serviceFile(name, { port, bind: '127.0.0.1', server: '/bin/cat' });

describe('superd reload: which process it signals', { timeout: 120000 }, () => {
  test('a pid file naming a process that is not superd: refused, and that process is not signalled', async () => {
    const dir = await scratch();
    // SIGHUP's default action would end it. Whatever `superd reload` sent was
    // sent before it exited; the test's own SIGTERM comes after. A process
    // dies of the first deadly signal it gets (and of SIGHUP first when both
    // are pending: the lower number is taken first), so it dies of SIGTERM
    // only if no SIGHUP came.
    const victim = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    const died = new Promise<NodeJS.Signals | null>((resolve) => victim.once('exit', (_code, signal) => resolve(signal)));
    try {
      const pidFile = join(dir, 'stale.pid');
      await writeFile(pidFile, `${victim.pid}\n`);
      const r = await runSuperd(['reload', '--pid-file', pidFile, '--control-socket', join(dir, 'none.sock')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`process ${victim.pid} \\(from ${pidFile.replace(/[.]/g, '\\.')}\\) is not superd but '/bin/sleep 30'`));
      victim.kill('SIGTERM');
      assert.equal(await within(died, 10000, 'the process ends'), 'SIGTERM', 'the process was not signalled by superd reload');
    } finally {
      victim.kill('SIGKILL');
    }
  });

  test("another user's superd: refused before any signal (only its user or root may reload it)", async (t) => {
    if (!isRoot || !existsSync(SETPRIV)) return t.skip('needs root and /usr/bin/setpriv: a superd of one user, a client of another');
    const unreachable = unreachableByOthers();
    if (unreachable !== null) return t.skip(unreachable);
    const d = await daemon();
    const dir = await scratch();
    await chmod(dir, 0o755);
    const pidFile = join(dir, 'superd.pid');
    await writeFile(pidFile, await readFile(d.pidFile, 'utf8'), { mode: 0o644 });
    const r = await runProgram(SETPRIV, ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, SUPERD, 'reload', '--pid-file', pidFile, '--control-socket', join(dir, 'none.sock')], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      timeoutMs: 10000,
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`superd pid ${d.pid} .* runs as uid 0, not as you \\(uid 65534\\).*not signalled`));
    // The daemon's own reload, asked for after that one was refused: the first
    // reload it logs. (A SIGHUP from uid 65534 to a root process is refused by
    // the kernel as well.)
    const own = await runSuperd(['reload', '--control-socket', d.controlSocket]);
    assert.equal(own.code, 0, own.stderr);
    await d.waitFor((x) => x.event === 'reload', 'the reload asked for over the control socket');
    assert.equal(d.logs.filter((x) => x.event === 'reload').length, 1, 'no reload happened before the one asked for');
  });
});

describe('superd reload: waits and reports (SPEC §1)', { timeout: 120000 }, () => {
  test('over the control socket: the summary on stdout, exit 0, and the new service serves when it returns', async () => {
    const d = await daemon();
    const [p] = (await freePorts(1)) as [number];
    await d.writeService('b.conf', cat('b', p));
    const r = await runSuperd(['reload', '--control-socket', d.controlSocket]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `superd (pid ${d.pid}) reloaded: 1 added, 0 changed, 0 removed, 0 unchanged, 0 errors\n`);
    assert.equal(r.stderr, '');
    assert.equal((await exchange(p, 'b')).data.toString(), 'b', 'listening by the time reload returned');
  });

  test('errors: each as FILE:LINE: [service] message on stderr, exit 1', async () => {
    const d = await daemon();
    await d.writeService('bad.conf', '[bad]\nport = 70000\nserver = /bin/cat\n');
    const r = await runSuperd(['reload', '--control-socket', d.controlSocket]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /0 added, 0 changed, 0 removed, 0 unchanged, 1 error\n$/);
    assert.match(r.stderr, new RegExp(`^${join(d.servicesDir, 'bad.conf').replace(/[.]/g, '\\.')}:2: \\[bad\\] `, 'm'));
  });

  test('--pid-file: SIGHUP to the checked pid, and its outcome from the control socket', async () => {
    const d = await daemon();
    const [p] = (await freePorts(1)) as [number];
    await d.writeService('c.conf', cat('c', p));
    const r = await runSuperd(['reload', '--pid-file', d.pidFile, '--control-socket', d.controlSocket]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /1 added/);
    assert.equal(d.logs.filter((x) => x.event === 'reload').length, 1, 'one reload: the signal, not also a request');
  });

  test('--pid-file without a control socket to wait on: signalled all the same, exit 1 saying the outcome is unknown', async () => {
    const d = await daemon();
    // Its own control socket is what reload --pid-file waits on: gone, there is none.
    await unlink(d.controlSocket);
    const r = await runSuperd(['reload', '--pid-file', d.pidFile]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`sent SIGHUP to superd \\(pid ${d.pid}\\), but cannot report its outcome`));
    await d.waitFor((x) => x.event === 'reload', 'the reload it asked for');
  });

  test('no daemon on the control socket: exit 1 naming it', async () => {
    const dir = await scratch();
    const sock = join(dir, 'none.sock');
    const r = await runSuperd(['reload', '--control-socket', sock]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(sock), r.stderr);
    assert.equal(r.stdout, '');
  });
});
