// Issue 26, papercut 3: `superd reload --pid-file FILE` finds the daemon's
// own control socket (its command line, its environment, its working
// directory), confirmed against the sockets it listens on, and reports the
// reload as `superd reload` does: exit 0 and the summary, or exit 1 and
// every error as FILE:LINE. A socket at that path the daemon does not listen
// on is never connected to.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { listensOn } from '../src/control/find.js';
import { listeningUnixFiles } from '../src/control/sockdiag.js';
import { freePorts } from './helpers/clients.js';
import { runSuperd, scratchDirs, serviceFile, startDaemon, type DaemonHandle } from './helpers/daemon.js';

const PATH = process.env.PATH ?? '/usr/bin:/bin';
const scratch = scratchDirs('superd-reload-find-');
const running: DaemonHandle[] = [];
after(async () => {
  await Promise.all(running.splice(0).map((d) => d.stop()));
});

/**
 * A launcher (sh, exec'ing superd with the same pid) that runs it in `cwd`
 * and replaces the helper's `--control-socket PATH` with `replacement`
 * (nothing: the environment or the default decides).
 */
function launcher(cwd: string, replacement: string[]): string[] {
  const quote = (w: string): string => `'${w.replace(/'/g, `'\\''`)}'`;
  const script =
    `cd ${quote(cwd)} || exit 1; skip=0; ` +
    'for a do shift; if [ $skip = 1 ]; then skip=0; continue; fi; if [ "$a" = --control-socket ]; then skip=1; continue; fi; set -- "$@" "$a"; done; ' +
    `exec "$@" ${replacement.map(quote).join(' ')}`;
  return ['/bin/sh', '-c', script, 'sh'];
}

async function started(opts: { env?: Record<string, string>; cwd?: string; replacement?: string[] }): Promise<DaemonHandle> {
  const d = await startDaemon({
    env: { PATH, ...(opts.env ?? {}) },
    ...(opts.cwd !== undefined ? { launcher: launcher(opts.cwd, opts.replacement ?? []) } : {}),
  });
  running.push(d);
  return d;
}

/** `superd reload --pid-file` without a control socket of its own: from a scratch cwd, with nothing of the daemon's environment. */
async function reloadByPidFile(d: DaemonHandle): Promise<Awaited<ReturnType<typeof runSuperd>>> {
  return runSuperd(['reload', '--pid-file', d.pidFile], { env: { PATH }, cwd: await scratch() });
}

/** A reload that adds a service reports it, exit 0; one with a bad file reports FILE:LINE, exit 1. */
async function reportsBoth(d: DaemonHandle): Promise<void> {
  const [port] = (await freePorts(1, '127.0.0.1')) as [number];
  await d.writeService('c.conf', serviceFile('c', { port, bind: '127.0.0.1', server: '/bin/cat' }));
  const r = await reloadByPidFile(d);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`superd \\(pid ${d.pid}\\) reloaded: 1 added`));

  await d.writeService('bad.conf', '[bad]\nport = 7\nserver = /bin/cat\nnosuchkey = 1\n');
  const bad = await reloadByPidFile(d);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stdout, /reloaded: .*1 error/);
  assert.match(bad.stderr, new RegExp(`^${join(d.servicesDir, 'bad.conf').replace(/[.]/g, '\\.')}:4: \\[bad\\] `, 'm'));
}

describe('superd reload --pid-file finds the daemon\'s control socket', { timeout: 120000 }, () => {
  test('a daemon started with --control-socket PATH', async (t) => {
    const d = await started({});
    // Found, and seen to be a socket it listens on where the kernel can say so.
    if (listeningUnixFiles().ok) assert.equal(await listensOn(d.pid, d.controlSocket), 'yes');
    else t.diagnostic('no sock_diag here: the path is not confirmed');
    await reportsBoth(d);
  });

  test('a daemon with SUPERD_CONTROL_SOCKET in its environment (no --control-socket)', async () => {
    const dir = await scratch();
    await reportsBoth(await started({ env: { SUPERD_CONTROL_SOCKET: join(dir, 'env.sock') }, cwd: dir }));
  });

  test('a daemon started with a relative --control-socket, in another directory', async () => {
    const dir = await scratch();
    await reportsBoth(await started({ cwd: dir, replacement: ['--control-socket', 'rel.sock'] }));
  });

  test('its control socket path held by another program: SIGHUP all the same, never a connection there, exit 1 saying why', async (t) => {
    const diag = listeningUnixFiles();
    if (!diag.ok) return t.skip(`the kernel cannot say which file a socket listens on here: ${diag.error}`);
    const dir = await scratch();
    const path = join(dir, 'taken.sock');
    let connections = 0;
    const other: Server = createServer((c) => {
      connections += 1;
      c.destroy();
    });
    await new Promise<void>((resolve) => other.listen(path, resolve));
    try {
      const d = await started({ cwd: dir, replacement: ['--control-socket', path] });
      await d.waitFor((r) => r.event === 'control_socket', "the daemon's warning that it has no control socket");
      const before = connections;
      const r = await reloadByPidFile(d);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`sent SIGHUP to superd \\(pid ${d.pid}\\), but cannot report its outcome: ${path.replace(/[.]/g, '\\.')}, where it would put its control socket, is not a socket it listens on`));
      await d.waitFor((x) => x.event === 'reload', 'the reload it signalled');
      assert.equal(connections, before, 'superd reload did not connect to the other program');
    } finally {
      other.close();
    }
  });
});
