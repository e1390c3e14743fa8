// Unix stream services (SPEC §2 `path`, `socket_mode`): nowait and wait, the
// socket file's mode, a stale socket replaced, a live one or a non-socket in
// the way left alone with an error naming the service (while everything else
// is served), and the file gone when its service is removed or superd stops.
import assert from 'node:assert/strict';
import { chmod, lstat, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exchange } from './helpers/clients.js';
import { serviceFile, startServices, type DaemonHandle } from './helpers/daemon.js';
import { tryConnectUnix, unixExchange } from './helpers/unix.js';
import { eventually } from './helpers/wait.js';
import { isSysError } from '../src/sys/errors.js';
import { bindUnix } from '../src/sys/sockets.js';

const ACCEPTING_HANDLER = `
const net = require('node:net');
let served = 0;
const server = net.createServer((c) => { served += 1; c.end(process.pid + ' ' + served + ' ' + process.env.PROTO + ' ' + process.env.UNIXLOCALPATH + '\\n'); if (served === 2) setTimeout(() => process.exit(0), 50); });
server.listen({ fd: 0 });
`;

describe('serve: unix sockets', () => {
  let d: DaemonHandle;
  let port: Record<string, number>;
  let dir: string;
  let live: Server;
  const at = (name: string): string => join(dir, `${name}.sock`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'superd-unix-'));
    await chmod(dir, 0o755);
    await writeFile(join(dir, 'accepting.cjs'), ACCEPTING_HANDLER, { mode: 0o644 });
    // A stale socket file: bound, then its socket closed (the file stays).
    const stale = bindUnix({ path: at('stale') });
    assert.ok(!isSysError(stale), 'a stale socket file for the test');
    stale.close();
    // In the way: a regular file, and a socket another program answers on.
    await writeFile(at('file'), 'not a socket\n');
    live = createServer((c) => c.end('other program\n'));
    await new Promise<void>((resolve) => live.listen(at('live'), resolve));
    ({ d, port } = await startServices({
      cat: { protocol: 'unix', path: at('cat'), socket_mode: '0660', server: '/bin/sh', args: `-c 'echo "$PROTO $UNIXLOCALPATH"; cat'` },
      open: { protocol: 'unix', path: at('open'), server: '/bin/cat' },
      stale: { protocol: 'unix', path: at('stale'), server: '/bin/cat' },
      file: { protocol: 'unix', path: at('file'), server: '/bin/cat' },
      live: { protocol: 'unix', path: at('live'), server: '/bin/cat' },
      waiting: { protocol: 'unix', path: at('waiting'), wait: 'yes', server: process.execPath, args: join(dir, 'accepting.cjs') },
      tcp: { protocol: 'tcp', bind: '127.0.0.1', server: '/bin/cat' },
    }, { allowBindFailed: ['file', 'live'] }));
  });
  after(async () => {
    await d?.stop();
    live?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('nowait: a handler per connection with PROTO=UNIX and the socket path; the mode is socket_mode', async () => {
    const r = await unixExchange(at('cat'), 'hello\n');
    assert.equal(r.data.toString(), `UNIX ${at('cat')}\nhello\n`);
    assert.equal((await stat(at('cat'))).mode & 0o777, 0o660);
    assert.equal((await stat(at('open'))).mode & 0o777, 0o666, 'socket_mode defaults to 0666');
    assert.ok((await lstat(at('cat'))).isSocket());
    const accepted = await d.waitFor((r) => r.event === 'accepted' && r.service === 'cat', 'accepted');
    assert.equal(typeof accepted.pid, 'number');
    assert.equal(accepted.remote, undefined, 'a unix client has no address');
  });

  test('a stale socket file is replaced', async () => {
    assert.equal((await unixExchange(at('stale'), 'fresh\n')).data.toString(), 'fresh\n');
  });

  test('a regular file in the way: bind_failed naming the service, the file untouched', async () => {
    const failed = d.logs.find((r) => r.event === 'bind_failed' && r.service === 'file');
    assert.ok(failed !== undefined, 'bind_failed for the service');
    assert.match(String(failed.error), /not a socket/);
    assert.equal(await readFile(at('file'), 'utf8'), 'not a socket\n');
  });

  test('a live socket of another program: bind_failed, and that program keeps answering', async () => {
    const failed = d.logs.find((r) => r.event === 'bind_failed' && r.service === 'live');
    assert.ok(failed !== undefined);
    assert.equal((await unixExchange(at('live'), '')).data.toString(), 'other program\n');
    // Everything else is served meanwhile.
    assert.equal((await exchange(port.tcp ?? 0, 'tcp too\n')).data.toString(), 'tcp too\n');
  });

  test('wait: the handler accepts on the listening socket itself', async () => {
    const first = (await unixExchange(at('waiting'), '')).data.toString().trim();
    const second = (await unixExchange(at('waiting'), '')).data.toString().trim();
    const pid = first.split(' ')[0];
    assert.equal(first, `${pid} 1 UNIX ${at('waiting')}`);
    assert.equal(second, `${pid} 2 UNIX ${at('waiting')}`);
    await d.waitFor((r) => r.event === 'exited' && r.service === 'waiting', 'wait handler exits');
    const third = (await unixExchange(at('waiting'), '')).data.toString().trim();
    assert.match(third, / 1 UNIX /);
  });

  test('a removed service takes its socket file with it; other files are left', async () => {
    await d.writeService('open.conf', '# gone\n');
    await d.reload();
    assert.ok(await eventually(async () => !(await exists(at('open'))), 15000), 'the socket file is removed');
    assert.equal(await tryConnectUnix(at('open'), 1000), 'ENOENT');
    assert.equal(await readFile(at('file'), 'utf8'), 'not a socket\n');
    // A later service may take the same path again.
    await d.writeService('open.conf', serviceFile('open', { protocol: 'unix', path: at('open'), server: '/bin/cat' }));
    await d.reload();
    assert.equal((await unixExchange(at('open'), 'back\n')).data.toString(), 'back\n');
  });

  test('a new socket_mode on reload: a new socket at the same path, and no handler for a phantom client', async () => {
    const acceptedBefore = d.logs.filter((r) => r.event === 'accepted' && r.service === 'cat').length;
    await d.writeService('cat.conf', serviceFile('cat', { protocol: 'unix', path: at('cat'), socket_mode: '0600', server: '/bin/sh', args: `-c 'echo "$PROTO $UNIXLOCALPATH"; cat'` }));
    const summary = await d.reload();
    assert.equal(summary.changed, 1);
    assert.equal((await stat(at('cat'))).mode & 0o777, 0o600);
    assert.equal((await unixExchange(at('cat'), 'after\n')).data.toString(), `UNIX ${at('cat')}\nafter\n`);
    // A phantom (superd's own probe of the path, taken for a client) would be
    // accepted during the reload: before a second client that connects only
    // once the first one has been served, and whose handler has exited.
    assert.equal((await unixExchange(at('cat'), 'marker\n')).data.toString(), `UNIX ${at('cat')}\nmarker\n`);
    const accepted = await d.waitForCount((r) => r.event === 'accepted' && r.service === 'cat', acceptedBefore + 2, 'accepted for both clients');
    const marker = accepted[acceptedBefore + 1];
    await d.waitFor((r) => r.event === 'exited' && r.pid === marker?.pid, 'the second handler exited');
    assert.equal(d.logs.filter((r) => r.event === 'accepted' && r.service === 'cat').length, acceptedBefore + 2, 'one handler per client, none for a phantom');
  });

  test('on shutdown every socket file superd made is removed', async () => {
    // A daemon of its own: the one above serves the other tests, whichever run.
    const own = await mkdtemp(join(tmpdir(), 'superd-unix-stop-'));
    await chmod(own, 0o755);
    const path = (name: string): string => join(own, `${name}.sock`);
    const other = createServer((c) => c.end('other program\n'));
    let mine: DaemonHandle | undefined;
    try {
      await writeFile(join(own, 'accepting.cjs'), ACCEPTING_HANDLER, { mode: 0o644 });
      const stale = bindUnix({ path: path('stale') });
      assert.ok(!isSysError(stale), 'a stale socket file for the test');
      stale.close();
      await writeFile(path('file'), 'not a socket\n');
      await new Promise<void>((resolve) => other.listen(path('live'), resolve));
      ({ d: mine } = await startServices({
        made: { protocol: 'unix', path: path('made'), socket_mode: '0660', server: '/bin/cat' },
        stale: { protocol: 'unix', path: path('stale'), server: '/bin/cat' },
        waiting: { protocol: 'unix', path: path('waiting'), wait: 'yes', server: process.execPath, args: join(own, 'accepting.cjs') },
        file: { protocol: 'unix', path: path('file'), server: '/bin/cat' },
        live: { protocol: 'unix', path: path('live'), server: '/bin/cat' },
      }, { allowBindFailed: ['file', 'live'] }));
      // One more, added by a reload.
      await mine.writeService('added.conf', serviceFile('added', { protocol: 'unix', path: path('added'), server: '/bin/cat' }));
      assert.equal((await mine.reload()).added, 1);
      await mine.waitFor((r) => r.event === 'listening' && r.service === 'added', 'added listening');
      const made = ['made', 'stale', 'waiting', 'added'];
      for (const name of made) assert.ok((await lstat(path(name))).isSocket(), `${name}.sock is there while superd runs`);
      assert.deepEqual(await mine.stop(), { code: 0, signal: null });
      mine = undefined;
      for (const name of made) assert.equal(await exists(path(name)), false, `${name}.sock removed`);
      assert.equal(await readFile(path('file'), 'utf8'), 'not a socket\n');
      assert.ok(await exists(path('live')), "another program's socket stays");
      assert.equal((await unixExchange(path('live'), '')).data.toString(), 'other program\n');
    } finally {
      await mine?.stop();
      await new Promise<void>((resolve) => other.close(() => resolve()));
      await rm(own, { recursive: true, force: true });
    }
  });
});

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}
