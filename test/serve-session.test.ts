// A handler never has a controlling terminal. superd started from a terminal
// (here a pseudo-terminal that util-linux script(1) opens for it) has one, so
// its handlers then lead a session of their own; started without one (every
// other test, and any service manager), they lead only their own process
// group in superd's session, which has no terminal to acquire
// (src/spawn/session.ts). serve-env.test.ts checks the second case.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exchange, freePort } from './helpers/clients.js';
import { readJsonLog, serviceFile, SUPERD, tempDir } from './helpers/daemon.js';
import { parseProcStat, procStat, processExists } from './helpers/proc.js';
import { eventually } from './helpers/wait.js';

const SCRIPT = '/usr/bin/script';

describe('serve: superd on a terminal', () => {
  test('its handler leads a session of its own, with no controlling terminal', { skip: existsSync(SCRIPT) ? false : `no ${SCRIPT} (util-linux) to give superd a terminal` }, async () => {
    const dir = await tempDir();
    const services = join(dir, 'services.d');
    await mkdir(services, { mode: 0o755 });
    const port = await freePort();
    await writeFile(join(services, 'stat.conf'), serviceFile('stat', { port, bind: '127.0.0.1', server: '/bin/cat', args: '/proc/self/stat' }), { mode: 0o644 });
    const log = join(dir, 'superd.log');
    const pidFile = join(dir, 'superd.pid');
    const command = [process.execPath, SUPERD, 'run', '--services-dir', services, '--log-format', 'json', '--log-file', log, '--pid-file', pidFile, '--control-socket', join(dir, 'control.sock')].join(' ');
    // -e: script exits with superd's status; its stdin stays open (a pipe) so that it does not end the session.
    const term = spawn(SCRIPT, ['-qec', `exec ${command}`, '/dev/null'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const ended = new Promise<void>((resolve) => term.on('exit', () => resolve()));
    let pid = 0;
    try {
      // `started` comes after the services listen and the pid file is written.
      assert.ok(await eventually(async () => (await readJsonLog(log)).some((r) => r.event === 'started'), 15000, 50), 'superd started');
      pid = Number((await readFile(pidFile, 'utf8')).trim());
      const superd = await procStat(pid);
      assert.notEqual(superd.ttyNr, 0, 'the set-up: superd has a controlling terminal');
      const { data, how } = await exchange(port, '');
      assert.equal(how, 'end');
      const handler = parseProcStat(data.toString('utf8'));
      assert.equal(handler.session, handler.pid, 'a session of its own');
      assert.equal(handler.pgrp, handler.pid, 'and so its own process group');
      assert.notEqual(handler.session, superd.session);
      assert.equal(handler.ttyNr, 0, 'no controlling terminal');
      assert.equal(handler.ppid, pid, 'superd is the parent');
    } finally {
      if (pid > 0 && processExists(pid)) process.kill(pid, 'SIGTERM');
      const gone = await Promise.race([ended.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10000))]);
      if (!gone) term.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
    assert.equal(pid > 0 && processExists(pid), false, 'superd stopped');
  });
});
