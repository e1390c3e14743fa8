// Where a handler's standard error goes (SPEC §2 `stderr`): `log` (the
// default) logs each line with the service and pid, `socket` sends it to the
// client, `null` discards it.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readlink } from 'node:fs/promises';
import { connectClient, exchange, holdConnection } from './helpers/clients.js';
import { servicesForSuite, type LogRecord } from './helpers/daemon.js';
import { fdCount, notRoot } from './helpers/proc.js';
import { eventually } from './helpers/wait.js';

const OOPS = `-c 'echo oops >&2; echo out'`;
/** The same, and first on stdout what its fd 2 is (`pipe:[INODE]`): the pipe superd reads. */
const OOPS_PIPE = `-c 'echo oops >&2; readlink /proc/$$/fd/2; echo out'`;

/** Why the services and tests of another user's handlers are left out, or false (as root). */
const NOT_ROOT = notRoot('the handler runs as nobody');

/** The descriptors of pid that are `link` (e.g. `pipe:[123]`). */
async function descriptorsOf(pid: number, link: string): Promise<string[]> {
  const found: string[] = [];
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === link) found.push(fd);
  }
  return found;
}

describe('serve: handler stderr', () => {
  const defs: Record<string, Record<string, string>> = {
    deflog: { server: '/bin/sh', args: OOPS_PIPE },
    explog: { server: '/bin/sh', args: OOPS_PIPE, stderr: 'log' },
    tosock: { server: '/bin/sh', args: OOPS, stderr: 'socket' },
    tonull: { server: '/bin/sh', args: `-c 'echo oops >&2; readlink /proc/$$/fd/2; echo out'`, stderr: 'null' },
    lines: { server: '/bin/sh', args: `-c 'readlink /proc/$$/fd/2; printf "first\\nsecond line\\n\\nlast, no newline" >&2'` },
    // 300000 bytes of 'a' on stderr with no newline at all, then a line on stdout.
    longline: { server: '/bin/sh', args: `-c 'head -c 300000 /dev/zero | tr "\\000" a >&2; echo out'` },
    cat: { server: '/bin/cat' },
    // Says something on stderr, then goes on running: its pipe must be read while it runs.
    runs: { server: '/bin/sh', args: `-c 'echo early >&2; echo ready; exec cat'` },
    // A session: answers each line, and says so on stderr.
    talk: { server: '/bin/sh', args: `-c 'while read line; do echo "said $line" >&2; echo ok; done'`, max_children: '100' },
    // More than a pipe holds (64 KiB), in its first moments, then it exits.
    burst: { server: '/bin/sh', args: `-c 'seq 1 20000 >&2; echo out'` },
    // The same as another user: superd may start such a handler another way.
    // Only root may name another user: without root these services and their tests are left out.
    ...(NOT_ROOT === false
      ? {
          deflog_nobody: { server: '/bin/sh', args: OOPS_PIPE, user: 'nobody' },
          tosock_nobody: { server: '/bin/sh', args: OOPS, stderr: 'socket', user: 'nobody' },
          tonull_nobody: { server: '/bin/sh', args: `-c 'echo oops >&2; readlink /proc/$$/fd/2; echo out'`, stderr: 'null', user: 'nobody' },
        }
      : {}),
  };

  const suite = servicesForSuite(Object.fromEntries(Object.entries(defs).map(([n, k]) => [n, { bind: '127.0.0.1', ...k }])));
  const port = (name: string): number => suite.port[name] ?? assert.fail(`no port for ${name}`);

  /** Runs one connection (no input) and returns what the client got and the handler's pid, after it exited. */
  async function run(name: string): Promise<{ out: string; pid: number; exited: LogRecord }> {
    const c = await connectClient(port(name));
    c.end();
    const how = await c.waitClosed(10000);
    assert.equal(how, 'end');
    const accepted = await suite.d.waitFor(
      (r) => r.event === 'accepted' && r.service === name && r.remote_port === c.localPort,
      `accepted for ${name}`,
    );
    const pid = accepted.pid as number;
    assert.equal(typeof pid, 'number');
    const exited = await suite.d.waitFor((r) => r.event === 'exited' && r.pid === pid, `exited for ${name} pid ${pid}`);
    return { out: c.received().toString('utf8'), pid, exited };
  }

  const stderrOf = (pid: number): LogRecord[] => suite.d.logs.filter((r) => r.event === 'stderr' && r.pid === pid);

  /**
   * Returns once every stderr record superd will ever log for an exited
   * handler is in d.logs: superd no longer holds `pipe` (the handler's stderr
   * pipe, read to its end; null when it had none), and then a marker, a
   * connection to cat, has been accepted and has exited: the log is one
   * stream, so whatever was logged before it has arrived.
   */
  async function settled(pipe: string | null): Promise<void> {
    if (pipe !== null) {
      let held: string[] = [];
      assert.ok(await eventually(async () => (held = await descriptorsOf(suite.d.pid, pipe)).length === 0, 15000, 25), `superd still holds ${pipe} as fd ${held.join(', ')}`);
    }
    await run('cat');
  }

  /** What a handler that began with `readlink /proc/$$/fd/2` sent: its stderr pipe and the rest. */
  function pipeAndRest(out: string): { pipe: string; rest: string } {
    const nl = out.indexOf('\n');
    const pipe = out.slice(0, nl);
    assert.match(pipe, /^pipe:\[\d+\]$/, `fd 2 of the handler is a pipe: ${JSON.stringify(out)}`);
    return { pipe, rest: out.slice(nl + 1) };
  }

  for (const name of ['deflog', 'explog', 'deflog_nobody']) {
    test(`${name}: stderr = log${name !== 'explog' ? ' (the default)' : ''}: each line is logged with service and pid; the client gets only stdout`, { skip: name.endsWith('_nobody') ? NOT_ROOT : false }, async () => {
      const { out, pid } = await run(name);
      const { pipe, rest } = pipeAndRest(out);
      assert.equal(rest, 'out\n');
      await settled(pipe);
      // Exactly one record: no line lost, none logged twice.
      const recs = stderrOf(pid);
      assert.equal(recs.length, 1, JSON.stringify(recs));
      const rec = recs[0]!;
      assert.equal(rec.service, name);
      assert.equal(rec.message, 'oops');
      assert.equal(typeof rec.level, 'string');
    });
  }

  test('stderr = log: several lines become several records, in order, and an unterminated last line is not lost', async () => {
    const { out, pid } = await run('lines');
    const { pipe, rest } = pipeAndRest(out);
    assert.equal(rest, '');
    await settled(pipe);
    const recs = stderrOf(pid);
    const messages = recs.map((r) => r.message);
    // An empty line may be logged or skipped; the others must all be there, in order.
    assert.deepEqual(
      messages.filter((m) => m !== ''),
      ['first', 'second line', 'last, no newline'],
    );
    assert.ok(recs.every((r) => r.service === 'lines'));
  });

  for (const name of ['tosock', 'tosock_nobody']) {
    test(`${name}: stderr = socket: the client gets stderr and stdout, nothing is logged`, { skip: name.endsWith('_nobody') ? NOT_ROOT : false }, async () => {
      const { out, pid } = await run(name);
      assert.equal(out, 'oops\nout\n');
      // Its fd 2 was the connection (the client got 'oops'): no pipe for superd to read.
      await settled(null);
      assert.equal(stderrOf(pid).length, 0);
    });
  }

  for (const name of ['tonull', 'tonull_nobody']) {
    test(`${name}: stderr = null: neither the client nor the log gets it; fd 2 is /dev/null`, { skip: name.endsWith('_nobody') ? NOT_ROOT : false }, async () => {
      const { out, pid } = await run(name);
      assert.equal(out, '/dev/null\nout\n');
      await settled(null);
      assert.equal(stderrOf(pid).length, 0);
    });
  }

  test('a handler that goes on running has its stderr logged while it runs, not only when it exits', async () => {
    const c = await holdConnection(port('runs'));
    try {
      await c.waitForData('ready\n', 5000);
      const accepted = await suite.d.waitFor((r) => r.event === 'accepted' && r.service === 'runs' && r.remote_port === c.socket.localPort, 'accepted for runs');
      const pid = accepted.pid as number;
      const rec = await suite.d.waitFor((r) => r.event === 'stderr' && r.pid === pid, `stderr record of running pid ${pid}`);
      assert.equal(rec.message, 'early');
      assert.equal(suite.d.logs.some((r) => r.event === 'exited' && r.pid === pid), false, 'logged while the handler still runs');
      c.socket.end();
      assert.equal(await c.closed, 'end');
    } finally {
      c.destroy();
    }
  });

  test('a handler that writes more than its pipe holds at once, then exits, has every line logged', { timeout: 20000 }, async () => {
    const { out, pid, exited } = await run('burst');
    assert.equal(out, 'out\n');
    assert.equal(exited.code, 0);
    const recs = await suite.d.waitForCount((r) => r.event === 'stderr' && r.pid === pid, 20000, 'all 20000 stderr lines');
    assert.deepEqual(recs.map((r) => r.message), Array.from({ length: 20000 }, (_, i) => String(i + 1)));
  });

  test('60 running sessions: superd holds a few descriptors for their quiet stderr pipes, not 60; what they write is still logged with their pids', { timeout: 30000 }, async () => {
    const idle = await fdCount(suite.d.pid);
    const sessions = await Promise.all(Array.from({ length: 60 }, () => holdConnection(port('talk'))));
    try {
      const pids = await Promise.all(
        sessions.map(async (c) => (await suite.d.waitFor((r) => r.event === 'accepted' && r.service === 'talk' && r.remote_port === c.socket.localPort, 'accepted for talk')).pid as number),
      );
      // Quiet for well over 100 ms: their pipes are parked (src/stderr/park.ts).
      let held = 0;
      assert.ok(await eventually(async () => (held = await fdCount(suite.d.pid)) < idle + 20, 15000, 50), `superd holds ${held} descriptors with 60 sessions running, ${idle} when idle`);
      // Five of them speak: each line is logged under its own handler's pid.
      for (const i of [0, 17, 33, 48, 59]) {
        sessions[i]!.send(`hi ${i}\n`);
        await sessions[i]!.waitForData('ok\n', 5000);
        const rec = await suite.d.waitFor((r) => r.event === 'stderr' && r.message === `said hi ${i}`, `stderr of session ${i}`);
        assert.equal(rec.pid, pids[i]);
        assert.equal(rec.service, 'talk');
      }
      // Parked again or not, a second line from the same session still arrives.
      sessions[17]!.send('again\n');
      await sessions[17]!.waitForData('ok\nok\n', 5000);
      assert.equal((await suite.d.waitFor((r) => r.event === 'stderr' && r.message === 'said again', 'second line of session 17')).pid, pids[17]);
      for (const c of sessions) c.socket.end();
      await suite.d.waitForCount((r) => r.event === 'exited' && pids.includes(r.pid as number), 60, 'all 60 sessions exited');
    } finally {
      for (const c of sessions) c.destroy();
    }
    let now = 0;
    assert.ok(await eventually(async () => (now = await fdCount(suite.d.pid)) <= idle, 15000, 50), `superd's descriptors back to ${idle}: ${now}`);
  });

  test('a 300000-byte stderr line without a newline is logged in bounded pieces and breaks nothing', { timeout: 60000 }, async () => {
    const { out, pid, exited } = await run('longline');
    assert.equal(out, 'out\n');
    assert.equal(exited.code, 0);
    // Wait until every byte has been logged (the pipe is drained to EOF).
    const total = (): number => stderrOf(pid).reduce((n, r) => n + String(r.message).length, 0);
    await eventually(() => total() >= 300000, 15000);
    const recs = stderrOf(pid);
    assert.ok(recs.length >= 2, `a 300000-char line should be split into several records, got ${recs.length}`);
    for (const r of recs) {
      assert.equal(r.service, 'longline');
      const m = String(r.message);
      assert.ok(m.length <= 65536, `a record of ${m.length} chars is not bounded`);
      assert.match(m, /^a+$/);
    }
    assert.equal(total(), 300000, 'every byte of the long line is logged');
    // superd still serves.
    const r = await exchange(port('cat'), 'still here');
    assert.equal(r.data.toString(), 'still here');
  });
});
