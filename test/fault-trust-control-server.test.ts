// Issue 14: the control socket server as a unit. Accept errors (ENFILE,
// ENOBUFS) reach the server's 'error' event once per failed accept for as
// long as superd runs; they are logged once per episode and never end it.
// And the request line: status, reload, await-reload, anything else.
import assert from 'node:assert/strict';
import { lstat, rm } from 'node:fs/promises';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { queryStatus, requestReload, awaitReload } from '../src/control/client.js';
import { closeControl, serveControl, type ControlHandlers } from '../src/control/server.js';
import type { DaemonStatus, ReloadReport } from '../src/control/status.js';
import type { SuperdError } from '../src/errors.js';
import type { LogFields, Logger, LogLevel } from '../src/log/types.js';
import { tempDir } from './helpers/daemon.js';
import { unixExchange } from './helpers/unix.js';
import { within } from './helpers/wait.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const STATUS: DaemonStatus = { pid: process.pid, startedAt: 'now', servicesDir: '/srv/services.d', lastReload: null, services: [] };

interface Logged {
  level: LogLevel;
  event: string;
  fields: LogFields;
}

function memoryLogger(): Logger & { records: Logged[] } {
  const records: Logged[] = [];
  return {
    records,
    log: (level, event, fields = {}) => void records.push({ level, event, fields }),
    enabled: () => true,
    reopen: () => undefined,
    close: async () => undefined,
  };
}

async function serve(handlers: Omit<ControlHandlers, 'status'> = {}): Promise<{ server: Server; path: string }> {
  const dir = await tempDir('superd-fault-control-');
  dirs.push(dir);
  const path = join(dir, 'control.sock');
  const server = await serveControl(path, { status: () => STATUS, ...handlers });
  assert.ok(!(server instanceof Error), server instanceof Error ? server.message : '');
  return { server, path };
}

function acceptError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`accept ${code}`), { code, errno: -23, syscall: 'accept' });
}

describe('control socket: accept errors', () => {
  test('a second (and hundredth) accept error does not throw; one line per episode; it keeps answering', async () => {
    const logger = memoryLogger();
    const { server, path } = await serve({ logger });
    try {
      for (let i = 0; i < 100; i++) server.emit('error', acceptError(i % 2 === 0 ? 'ENFILE' : 'ENOBUFS'));
      assert.equal(logger.records.length, 1, JSON.stringify(logger.records));
      assert.equal(logger.records[0]?.event, 'control_socket');
      assert.match(String(logger.records[0]?.fields.error), /accept ENFILE/);
      const status = await queryStatus(path);
      assert.ok(status.ok, status.ok ? '' : status.error.message);
      assert.equal(status.value.servicesDir, '/srv/services.d');
      const recovered = logger.records[1];
      assert.equal(recovered?.fields.errors, 100, 'the episode ends with its count');
      // A new episode is logged again.
      server.emit('error', acceptError('ENFILE'));
      assert.equal(logger.records.length, 3);
    } finally {
      await closeControl(server, path);
    }
  });

  test('the socket is 0600 from the first instant (placed, not chmod-ed after a listen)', async () => {
    const { server, path } = await serve();
    try {
      assert.equal(((await lstat(path)).mode & 0o777).toString(8), '600');
    } finally {
      await closeControl(server, path);
    }
    await assert.rejects(lstat(path), /ENOENT/, 'removed on close');
  });
});

describe('control socket: requests', () => {
  test('nothing before EOF is a status request (a probe, `nc -U`); an unknown word is an error answer', async () => {
    const { server, path } = await serve();
    try {
      const plain = await unixExchange(path, '');
      assert.equal((JSON.parse(plain.data.toString()) as DaemonStatus).servicesDir, '/srv/services.d');
      const bad = await unixExchange(path, 'frobnicate\n');
      assert.match(bad.data.toString(), /"code":"unknown_request"/);
      const json = await unixExchange(path, '{"request":"status"}\n');
      assert.equal((JSON.parse(json.data.toString()) as DaemonStatus).pid, process.pid);
    } finally {
      await closeControl(server, path);
    }
  });

  test('reload without a daemon that reports reloads: an error that says to send SIGHUP', async () => {
    const { server, path } = await serve();
    try {
      const r = await requestReload(path, 5000);
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.error.message, /SIGHUP/);
    } finally {
      await closeControl(server, path);
    }
  });

  test('reload starts one and answers with its outcome; await-reload answers at once, then with the next one', async () => {
    const waiters: ((r: ReloadReport | SuperdError) => void)[] = [];
    let requested = 0;
    const report: ReloadReport = { pid: process.pid, added: 1, changed: 0, removed: 0, unchanged: 2, errors: [] };
    const { server, path } = await serve({
      reload: {
        next: () => new Promise((resolve) => waiters.push(resolve)),
        request: () => {
          requested += 1;
          setImmediate(() => waiters.splice(0).forEach((w) => w(report)));
        },
      },
    });
    try {
      const r = await within(requestReload(path, 5000), 6000, 'reload answer');
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      assert.deepEqual(r.value, report);
      assert.equal(requested, 1);

      const waiting = await awaitReload(path);
      assert.ok(waiting.ok, waiting.ok ? '' : waiting.error.message);
      assert.equal(waiting.value.pid, process.pid);
      assert.equal(requested, 1, 'await-reload starts no reload itself');
      waiters.splice(0).forEach((w) => w({ ...report, added: 0, errors: [{ code: 'bad', file: '/x.conf', line: 3, service: 'x', message: 'oops' }] }));
      const later = await waiting.value.report(5000);
      assert.ok(later.ok);
      assert.equal(later.value.errors[0]?.line, 3);
    } finally {
      await closeControl(server, path);
    }
  });
});
