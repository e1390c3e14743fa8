// Issue 14: a --watch watcher that fails never ends the daemon. An error on
// one entry (here a symlink loop) is logged once and the watch goes on; one
// that means changes may go unnoticed (inotify out of watches or instances,
// which a test cannot bring about for superd alone) turns --watch off: that
// is tested on the handler itself in fault-log-units.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { exchange } from './helpers/clients.js';
import { serviceFile, startServices, type LogRecord } from './helpers/daemon.js';
import { fdCount, processExists } from './helpers/proc.js';
import { eventually } from './helpers/wait.js';

describe('--watch and a watcher error, in the daemon', { timeout: 60000 }, () => {
  test('a symlink loop in the services dir: one watch_error, superd serves, and --watch still reloads', async () => {
    const { d, port } = await startServices({ cat: { server: '/bin/cat', bind: '127.0.0.1' } }, { args: ['--watch'] });
    let stopped = false;
    try {
      const started = await d.waitFor((r) => r.event === 'started', 'started');
      assert.equal(started.watch, true);
      const fds = await fdCount(d.pid);
      // stat() of each fails with ELOOP, which the watcher reports as an error.
      await symlink('loop1.link', join(d.servicesDir, 'loop1.link'));
      const err = await d.waitFor((r) => r.event === 'watch_error', 'watch_error');
      assert.equal(err.level, 'warn');
      assert.match(String(err.error), /ELOOP/);
      await symlink('loop2.link', join(d.servicesDir, 'loop2.link'));

      // The watch goes on: a new service file is a reload. Its events come
      // after the second loop's in the directory's inotify queue, and the
      // reload 300 ms after them: the second error, were it logged, is by then.
      const reloads = d.logs.filter((x) => x.event === 'reload').length;
      await d.writeService('cat2.conf', serviceFile('cat2', { protocol: 'unix', path: join(d.dir, 'cat2.sock'), server: '/bin/cat' }));
      const all = await d.waitForCount((x) => x.event === 'reload', reloads + 1, 'a reload from --watch');
      assert.equal((all[reloads] as LogRecord).added, 1);
      assert.equal(d.logs.filter((r) => r.event === 'watch_error').length, 1, 'the same kind of error is logged once');
      assert.ok(processExists(d.pid), 'superd is alive');
      const r = await exchange(port.cat ?? 0, 'still served\n');
      assert.equal(r.data.toString(), 'still served\n');
      // The new unix service holds two: its socket, and the (empty, removed)
      // directory it was bound in, kept until the socket closes (listen/unixpath.ts).
      assert.ok(await eventually(async () => (await fdCount(d.pid)) <= fds + 2, 15000), 'no descriptor left behind but the new socket and its bind directory');
      stopped = true;
      assert.deepEqual(await d.stop(), { code: 0, signal: null });
    } finally {
      if (!stopped) await d.stop('SIGKILL');
    }
  });
});
