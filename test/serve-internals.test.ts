// The check of Node's internals seen from outside (src/internals/, "Node.js
// internals" in superd(8)): the real daemon's `started` line names the path
// taken for each; with the public paths forced (--avoid-internals, the
// hidden diagnostic option), builtins and programs over tcp and unix are
// served as before, a program's connection blocking, its stderr logged; and
// with no descriptor to be had, superd does not start.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { createConnection, type Socket } from 'node:net';
import { exchange } from './helpers/clients.js';
import { scratchDirs, startDaemon, startServices, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { within } from './helpers/wait.js';

const started = (d: DaemonHandle): LogRecord => d.logs.find((r) => r.event === 'started') ?? assert.fail('no started line');

/** A program that says whether its stdin (the connection) is non-blocking, and writes a line to its stderr. */
const FLAGS = `-c 'echo to stderr >&2; grep ^flags: /proc/self/fdinfo/0'`;
const O_NONBLOCK = 0o4000;

/** What the handler wrote, up to its end; the client writes nothing (the handler reads nothing, and may be gone before a write). */
function replyOf(socket: Socket): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<string>((resolve, reject) => {
    socket.once('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.once('error', reject);
  });
  return within(ended, 10_000, 'the reply').finally(() => socket.destroy());
}

function nonBlocking(reply: string): boolean {
  const flags = /^flags:\s*([0-7]+)/m.exec(reply)?.[1] ?? assert.fail(`no flags in ${JSON.stringify(reply)}`);
  return (parseInt(flags, 8) & O_NONBLOCK) !== 0;
}

describe('serve: Node internals', () => {
  const scratch = scratchDirs('superd-internals-');

  test('the started line names the internal paths, all proven, and nothing is warned', async () => {
    const { d } = await startServices({ echo: { bind: '127.0.0.1', builtin: 'echo' } });
    try {
      assert.equal(started(d).node_internals, 'accept=handle stream=handle fd=_handle pipe=pipe_wrap');
      assert.deepEqual(d.logs.filter((r) => r.event === 'node_internals'), []);
    } finally {
      await d.stop();
    }
  });

  describe('the public paths, forced', () => {
    let d: DaemonHandle;
    let port: Record<string, number>;
    let dir: string;

    before(async () => {
      dir = await scratch();
      ({ d, port } = await startServices(
        {
          echo: { bind: '127.0.0.1', builtin: 'echo' },
          flags: { bind: '127.0.0.1', server: '/bin/sh', args: FLAGS, stderr: 'log' },
          unix_flags: { protocol: 'unix', path: join(dir, 'flags.sock'), server: '/bin/sh', args: FLAGS },
        },
        { args: ['--avoid-internals', 'accept,stream,pipe'] },
      ));
    });
    after(async () => {
      await d?.stop();
    });

    test('the started line names them, and why', () => {
      assert.equal(started(d).node_internals, 'accept=connection(avoided) stream=connection(avoided) fd=_handle pipe=socket(avoided)');
      assert.deepEqual(d.logs.filter((r) => r.event === 'node_internals'), [], 'what was asked for is not warned about');
    });

    test('a builtin serves', async () => {
      const r = await exchange(port.echo ?? 0, 'through the connection event\n');
      assert.equal(r.how, 'end');
      assert.equal(r.data.toString(), 'through the connection event\n');
    });

    test('a tcp program gets its connection blocking, and its stderr is logged', async () => {
      const reply = await replyOf(createConnection({ host: '127.0.0.1', port: port.flags ?? 0 }));
      assert.equal(nonBlocking(reply), false, reply);
      const line = await d.waitFor((x) => x.event === 'stderr' && x.service === 'flags', 'the stderr line');
      assert.equal(line.message, 'to stderr');
    });

    test('a unix program gets its connection blocking', async () => {
      const reply = await replyOf(createConnection(join(dir, 'flags.sock')));
      assert.equal(nonBlocking(reply), false, reply);
    });
  });

  test('with no descriptor of a connection to be had, superd does not start: exit 1, and why', async () => {
    const d = await startDaemon({
      services: { 'echo.conf': '[echo]\nbind = 127.0.0.1\nport = 1\nbuiltin = echo\n' },
      args: ['--avoid-internals', 'fd'],
      waitStarted: false,
    });
    try {
      const exit = await d.exited;
      assert.equal(exit.code, 1);
      assert.match(d.otherStderr.join('\n'), /^superd: cannot start: this Node\.js \(v[\d.]+\) gives no descriptor of a connected socket \(accept=handle stream=handle fd=none\(avoided\) pipe=pipe_wrap: avoided by --avoid-internals\)/m);
      const refused = d.logs.find((r) => r.event === 'node_internals');
      assert.equal(refused?.level, 'error');
      assert.deepEqual(
        d.logs.filter((r) => ['listening', 'bind_failed', 'started'].includes(r.event)),
        [],
        'nothing was bound, nothing started',
      );
    } finally {
      await d.stop();
    }
  });
});
