// Things going wrong around a handler (SPEC §3, §4, §5): a program that cannot
// be started, a port someone else holds, handlers that crash or leave at once.
// superd logs it and goes on serving everything else.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { connectClient, exchange } from './helpers/clients.js';
import {
  assertStillServes,
  serviceFile,
  startServices,
  tempDir,
  type DaemonHandle,
  type LogRecord,
} from './helpers/daemon.js';
import { notRoot } from './helpers/proc.js';

/** Only root may start a handler as another user: without it superd refuses such a service (needs_root). */
const NOBODY_SKIP = notRoot('only root may start a handler as nobody');

/** Connects, optionally sends, and expects superd (or the handler) to close the connection promptly with no bytes. */
async function expectClosedEmpty(port: number, payload: string | null, ms = 3000): Promise<string> {
  const c = await connectClient(port);
  if (payload !== null) c.write(payload);
  const how = await c.waitClosed(ms);
  assert.ok(['end', 'ECONNRESET', 'EPIPE', 'close'].includes(how), `unexpected close: ${how}`);
  assert.equal(c.received().length, 0, `got bytes: ${c.received().toString()}`);
  c.destroy();
  return how;
}

describe('serve: handlers that cannot start, crash or leave', () => {
  let d: DaemonHandle | undefined;
  let dir = '';
  let notExec = '';
  const port: Record<string, number> = {};

  let gone = '';
  before(async () => {
    dir = await tempDir('superd-errors-');
    await chmod(dir, 0o755);
    // The programs exist when superd reads the files (a missing one would be
    // a config error) and go wrong afterwards: removed, made non-executable.
    gone = join(dir, 'removed-later');
    notExec = join(dir, 'not-executable.sh');
    await writeFile(gone, '#!/bin/sh\necho should not run\n', { mode: 0o755 });
    await writeFile(notExec, '#!/bin/sh\necho should not run\n', { mode: 0o755 });
    const defs: Record<string, Record<string, string>> = {
      missing: { server: gone },
      ...(NOBODY_SKIP === false ? { missing_nobody: { server: gone, user: 'nobody' } } : {}),
      noexec: { server: notExec },
      crash: { server: '/bin/sh', args: `-c 'ulimit -c 0; kill -SEGV $$'` },
      quick: { server: '/bin/true' },
      hello: { server: '/bin/echo', args: 'hi' },
      code7: { server: '/bin/sh', args: `-c 'exit 7'` },
      good: { server: '/bin/cat' },
    };
    const served = await startServices(Object.fromEntries(Object.entries(defs).map(([n, k]) => [n, { bind: '127.0.0.1', ...k }])));
    d = served.d;
    Object.assign(port, served.port);
    await rm(gone);
    await chmod(notExec, 0o644);
  });
  after(async () => {
    await d?.stop();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  const goodStillServes = (): Promise<void> => assertStillServes(d!, port.good ?? 0);

  for (const name of ['missing', 'missing_nobody'] as const) {
    test(`${name}: a server program removed after the load: connection closed, spawn_failed logged naming the path, superd serves on`, { skip: name === 'missing_nobody' && NOBODY_SKIP }, async () => {
      const path = gone;
      const before = d!.logs.filter((r) => r.event === 'spawn_failed' && r.service === name).length;
      await expectClosedEmpty(port[name] ?? 0, 'hello?\n');
      const recs = await d!.waitForCount((r) => r.event === 'spawn_failed' && r.service === name, before + 1, `spawn_failed for ${name}`);
      const rec = recs[before] as LogRecord;
      assert.equal(typeof rec.error, 'string');
      assert.ok(String(rec.error).includes(path), `error should name ${path}: ${String(rec.error)}`);
      assert.equal(d!.logs.filter((r) => r.event === 'accepted' && r.service === name).length, 0, 'no accepted record: no handler started');
      // Twice: the failure leaves nothing behind that breaks the next attempt.
      await expectClosedEmpty(port[name] ?? 0, null);
      await d!.waitForCount((r) => r.event === 'spawn_failed' && r.service === name, before + 2, `second spawn_failed for ${name}`);
      await goodStillServes();
    });
  }

  test('a server file made not executable (0644) after the load: connection closed, spawn_failed names it, superd serves on', async () => {
    await expectClosedEmpty(port.noexec ?? 0, 'hello?\n');
    const rec = await d!.waitFor((r) => r.event === 'spawn_failed' && r.service === 'noexec', 'spawn_failed for noexec');
    assert.ok(String(rec.error).includes(notExec), `error should name ${notExec}: ${String(rec.error)}`);
    assert.equal(d!.logs.filter((r) => r.event === 'accepted' && r.service === 'noexec').length, 0);
    await goodStillServes();
  });

  test('a handler killed by SIGSEGV: exited with signal SIGSEGV, the client gets EOF, the next connection is served', async () => {
    for (let round = 1; round <= 2; round++) {
      const c = await connectClient(port.crash ?? 0);
      const how = await c.waitClosed(3000);
      assert.ok(['end', 'ECONNRESET'].includes(how), how);
      const accepted = await d!.waitFor((r) => r.event === 'accepted' && r.service === 'crash' && r.remote_port === c.localPort, 'accepted for crash');
      const exited = await d!.waitFor((r) => r.event === 'exited' && r.pid === accepted.pid, 'exited for crash');
      assert.equal(exited.service, 'crash');
      assert.equal(exited.signal, 'SIGSEGV');
      assert.equal(exited.code, null);
      assert.equal(typeof exited.duration_ms, 'number');
    }
    await goodStillServes();
  });

  test('a handler that exits at once without reading: the client is closed promptly, exited code 0', async () => {
    const c = await connectClient(port.quick ?? 0);
    c.write(Buffer.alloc(64 * 1024, 0x41));
    const how = await c.waitClosed(3000);
    assert.ok(['end', 'ECONNRESET', 'EPIPE', 'close'].includes(how), how);
    const accepted = await d!.waitFor((r) => r.event === 'accepted' && r.service === 'quick' && r.remote_port === c.localPort, 'accepted for quick');
    const exited = await d!.waitFor((r) => r.event === 'exited' && r.pid === accepted.pid, 'exited for quick');
    assert.equal(exited.code, 0);
    assert.equal(exited.signal, null);
    await goodStillServes();
  });

  test('a handler that writes and exits without reading: the client gets its output and EOF', async () => {
    const c = await connectClient(port.hello ?? 0);
    assert.equal(await c.waitClosed(3000), 'end');
    assert.equal(c.received().toString(), 'hi\n');
  });

  test("a handler's exit status is logged as code", async () => {
    const c = await connectClient(port.code7 ?? 0);
    assert.equal(await c.waitClosed(3000), 'end');
    const accepted = await d!.waitFor((r) => r.event === 'accepted' && r.service === 'code7' && r.remote_port === c.localPort, 'accepted for code7');
    const exited = await d!.waitFor((r) => r.event === 'exited' && r.pid === accepted.pid, 'exited for code7');
    assert.equal(exited.code, 7);
    assert.equal(exited.signal, null);
  });
});

describe('serve: a port that is already in use', () => {
  let d: DaemonHandle | undefined;
  let squatter: Server | undefined;
  let busyPort = 0;
  let goodPort = 0;

  before(async () => {
    // The squatter holds a port of its own choosing (port 0): nobody can take it first.
    const srv = createServer((s) => s.end('squatter\n'));
    squatter = srv;
    busyPort = await new Promise<number>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const a = srv.address();
        resolve(typeof a === 'object' && a !== null ? a.port : 0);
      });
    });
    const served = await startServices(
      { good: { bind: '127.0.0.1', server: '/bin/cat' } },
      { services: { 'busy.conf': serviceFile('busy', { bind: '127.0.0.1', port: busyPort, server: '/bin/cat' }) } },
    );
    d = served.d;
    goodPort = served.port.good ?? 0;
  });
  after(async () => {
    await d?.stop();
    await new Promise<void>((resolve) => (squatter?.listening === true ? squatter.close(() => resolve()) : resolve()));
  });

  test('bind_failed is logged with retry_in = 30, the other service serves, and the port is bound once free', { timeout: 45000 }, async () => {
    const failed = await d!.waitFor((r) => r.event === 'bind_failed' && r.service === 'busy', 'bind_failed for busy');
    assert.equal(failed.retry_in, 30);
    assert.equal(typeof failed.error, 'string');
    assert.match(String(failed.error), /in use|EADDRINUSE/i);
    await d!.waitFor((r) => r.event === 'listening' && r.service === 'good', 'good listening');
    const r = await exchange(goodPort, 'good\n');
    assert.equal(r.data.toString(), 'good\n');
    // The port still belongs to the squatter.
    const s = await exchange(busyPort, '');
    assert.equal(s.data.toString(), 'squatter\n');
    assert.equal(d!.logs.filter((x) => x.event === 'listening' && x.service === 'busy').length, 0);

    const freedAt = Date.now();
    await new Promise<void>((resolve) => squatter!.close(() => resolve()));
    await d!.waitFor((x) => x.event === 'listening' && x.service === 'busy', 'busy listening after the port was freed', 35000);
    const waited = Date.now() - freedAt;
    assert.ok(waited <= 35000, `bound ${waited} ms after the port was freed`);
    const echoed = await exchange(busyPort, 'mine now\n');
    assert.equal(echoed.data.toString(), 'mine now\n');
    assert.equal(d!.proc.exitCode, null);
  });
});
