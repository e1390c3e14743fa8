// SPEC §4: what SIGHUP (and --watch) does to running services, observed from
// the outside: bytes on sockets, refused connections and the JSON log.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { exchange, freePorts, tryConnect } from './helpers/clients.js';
import { perTest, serviceFile, type LogRecord } from './helpers/daemon.js';
import { eventually } from './helpers/wait.js';

// Daemons stopped after each test, with a short grace so cleanup is quick.
const { daemon, hold } = perTest({ stopSignal: 'SIGTERM', args: ['--shutdown-grace', '1'] });

/** /bin/cat on 127.0.0.1:port: every byte sent comes back. */
function cat(name: string, port: number): string {
  return serviceFile(name, { port, bind: '127.0.0.1', server: '/bin/cat' });
}

/** Says `word` first, then echoes like cat: tells old settings from new ones on one connection. */
function greeter(name: string, port: number, word: string): string {
  return serviceFile(name, { port, bind: '127.0.0.1', server: '/bin/sh', args: `-c "echo ${word}; exec cat"` });
}

function counts(r: LogRecord): Record<string, unknown> {
  return { added: r.added, changed: r.changed, removed: r.removed, unchanged: r.unchanged, errors: r.errors };
}

/** One connection of a connect loop: when it began and ended (performance.now()), what came back and how it ended. */
interface Run {
  start: number;
  end: number;
  data: string;
  how: string;
}

/**
 * Connects again and again until stop() is true; every outcome that is not a
 * clean exchange is a failure. Each connection begins as the one before it
 * ends (no event of the test runs in between), so at any moment the test
 * looks, one of them is in flight.
 */
function connectLoop(port: number, expect: (data: string) => boolean, stop: () => boolean, max = 3000): { done: Promise<string[]>; count: () => number; runs: Run[] } {
  const runs: Run[] = [];
  const done = (async () => {
    const failures: string[] = [];
    while (!stop() && runs.length < max) {
      const start = performance.now();
      const r = await exchange(port, '', { timeoutMs: 5000 }).catch((e: Error) => ({ data: Buffer.alloc(0), how: e.message }));
      runs.push({ start, end: performance.now(), data: r.data.toString(), how: r.how });
      if (r.how !== 'end' || !expect(r.data.toString())) failures.push(`#${runs.length}: ${r.how} ${JSON.stringify(r.data.toString())}`);
    }
    return failures;
  })();
  return { done, count: () => runs.length, runs };
}

/** The connections of a loop that were in flight at some moment between from and to. */
function inFlight(runs: Run[], from: number, to: number): Run[] {
  return runs.filter((r) => r.start <= to && r.end >= from);
}

describe('reload (SIGHUP)', { timeout: 300000 }, () => {
  test('a new file adds its service: the new port serves after the reload', async () => {
    const [p1, p2] = await freePorts(2);
    const d = await daemon({ services: { 'a.conf': cat('a', p1 as number) } });
    assert.equal(await tryConnect(p2 as number), 'ECONNREFUSED', 'nothing listens on the new port before the reload');
    await d.writeService('b.conf', greeter('b', p2 as number, 'hello'));
    const summary = await d.reload();
    assert.deepEqual(counts(summary), { added: 1, changed: 0, removed: 0, unchanged: 1, errors: 0 });
    await d.waitFor((r) => r.event === 'listening' && r.service === 'b', 'listening b');
    const r = await exchange(p2 as number, 'x');
    assert.equal(r.data.toString(), 'hello\nx');
    assert.equal((await exchange(p1 as number, 'still a')).data.toString(), 'still a');
  });

  test('changed args: new connections see them, the port stays bound, an open connection keeps working', async () => {
    const [p] = (await freePorts(1)) as [number];
    const d = await daemon({ services: { 'a.conf': greeter('g', p, 'v1') } });
    const before = await hold(p);
    await before.waitForData('v1\n');

    await d.writeService('a.conf', greeter('g', p, 'v2'));
    let stop = false;
    const loop = connectLoop(p, (data) => data === 'v1\n' || data === 'v2\n', () => stop);
    assert.ok(await eventually(() => loop.count() >= 3, 15000), `connect loop stalled at ${loop.count()} before the reload`);
    // From the SIGHUP to its summary in the log.
    const t0 = performance.now();
    const summary = await d.reload();
    const t1 = performance.now();
    assert.ok(await eventually(() => loop.runs.filter((r) => r.start > t1).length >= 3, 15000), `connect loop stalled at ${loop.count()} after the reload`);
    stop = true;
    const failures = await loop.done;
    assert.deepEqual(failures, [], 'no connection was refused or reset while the changed service reloaded');
    // Connections were in flight while it reloaded (one at each end of it, at least), and all of them were served.
    const during = inFlight(loop.runs, t0, t1);
    assert.ok(during.length >= 1, 'a connection was in flight during the reload');
    assert.ok(during.every((r) => r.how === 'end'), JSON.stringify(during));
    // Each looped connection sends nothing and gets the greeting: v1 before the reload, v2 once it is done; never back.
    const greetings = loop.runs.map((r) => r.data);
    const firstNew = greetings.indexOf('v2\n');
    assert.equal(greetings[0], 'v1\n', 'the old args before the reload');
    assert.ok(firstNew > 0 && greetings.slice(firstNew).every((g) => g === 'v2\n'), `v1 then v2, once: ${greetings.join('').replace(/\n/g, ' ')}`);
    assert.ok(loop.runs.filter((r) => r.start > t1).every((r) => r.data === 'v2\n'), 'the new args once the reload is done');

    assert.deepEqual(counts(summary), { added: 0, changed: 1, removed: 0, unchanged: 0, errors: 0 });
    const r = await exchange(p, 'new');
    assert.equal(r.data.toString(), 'v2\nnew', 'a new connection runs the new args');

    before.send('old connection\n');
    await before.waitForData('old connection\n');
    assert.equal(before.received().toString(), 'v1\nold connection\n', 'the connection from before the reload is served by the old handler');
    before.socket.end();
    assert.equal(await before.closed, 'end');
  });

  test('changed port: the new port serves, the old one is closed, a connection on the old port finishes', async () => {
    const [p1, p2] = (await freePorts(2)) as [number, number];
    const d = await daemon({ services: { 'a.conf': greeter('g', p1, 'one') } });
    const old = await hold(p1);
    await old.waitForData('one\n');

    await d.writeService('a.conf', greeter('g', p2, 'one'));
    const summary = await d.reload();
    assert.deepEqual(counts(summary), { added: 0, changed: 1, removed: 0, unchanged: 0, errors: 0 });
    const listening = await d.waitFor((r) => r.event === 'listening' && r.service === 'g' && new RegExp(`:${p2}\\b`).test(String(r.address)), `listening on ${p2}`);
    assert.ok(listening);
    assert.equal((await exchange(p2, 'via new port')).data.toString(), 'one\nvia new port');
    assert.ok(await eventually(async () => (await tryConnect(p1)) === 'ECONNREFUSED', 15000), `port ${p1} still accepts after the service moved to ${p2}`);

    old.send('still here\n');
    await old.waitForData('still here\n');
    old.socket.end();
    assert.equal(await old.closed, 'end');
    const exitedOld = await d.waitFor((r) => r.event === 'exited' && r.service === 'g' && r.code === 0, 'the old handler exits cleanly');
    assert.equal(exitedOld.signal ?? null, null);
  });

  test('a removed service: its port refuses, its running handler finishes undisturbed', async () => {
    const [p1, p2] = (await freePorts(2)) as [number, number];
    const d = await daemon({ services: { 'a.conf': cat('gone', p1), 'b.conf': cat('kept', p2) } });
    const c = await hold(p1);
    c.send('before\n');
    await c.waitForData('before\n');
    const accepted = await d.waitFor((r) => r.event === 'accepted' && r.service === 'gone', 'accepted gone');

    await d.removeService('a.conf');
    const summary = await d.reload();
    assert.deepEqual(counts(summary), { added: 0, changed: 0, removed: 1, unchanged: 1, errors: 0 });
    await d.waitFor((r) => r.event === 'removed' && r.service === 'gone', 'removed gone');
    assert.ok(await eventually(async () => (await tryConnect(p1)) === 'ECONNREFUSED', 15000), `port ${p1} still accepts after its service was removed`);

    c.send('after\n');
    await c.waitForData('after\n');
    assert.equal(c.received().toString(), 'before\nafter\n');
    assert.equal(d.logs.filter((r) => r.event === 'exited' && r.pid === accepted.pid).length, 0, 'the handler is still running');
    c.socket.end();
    assert.equal(await c.closed, 'end');
    const exited = await d.waitFor((r) => r.event === 'exited' && r.pid === accepted.pid, 'the removed service handler exits');
    assert.equal(exited.code, 0);
    assert.equal(exited.signal ?? null, null, 'nobody signalled the handler');
    assert.equal((await exchange(p2, 'k')).data.toString(), 'k', 'the other service still serves');
  });

  test('unchanged services keep their socket: an open connection survives, a connect loop over 5 reloads is never refused', async () => {
    const [p1, p2] = (await freePorts(2)) as [number, number];
    const d = await daemon({
      services: {
        'a.conf': cat('cat', p1),
        'b.conf': serviceFile('ok', { port: p2, bind: '127.0.0.1', server: '/bin/echo', args: 'ok' }),
      },
    });
    const c = await hold(p1);
    c.send('one\n');
    await c.waitForData('one\n');

    let reloadsDone = false;
    const loop = connectLoop(p2, (data) => data === 'ok\n', () => reloadsDone && loop.count() >= 200);
    const summaries: LogRecord[] = [];
    const windows: [number, number][] = [];
    for (let i = 1; i <= 5; i++) {
      // Spread the reloads over the loop so that connections arrive during each.
      assert.ok(await eventually(() => loop.count() >= i * 30, 20000), `connect loop stalled at ${loop.count()}`);
      const t0 = performance.now();
      summaries.push(await d.reload());
      windows.push([t0, performance.now()]);
    }
    reloadsDone = true;
    const failures = await loop.done;
    assert.ok(loop.count() >= 200, `only ${loop.count()} connections`);
    assert.deepEqual(failures, [], 'every connection during the reloads was served');
    for (const [i, [t0, t1]] of windows.entries()) assert.ok(inFlight(loop.runs, t0, t1).length >= 1, `a connection was in flight during reload ${i + 1}`);
    for (const s of summaries) assert.deepEqual(counts(s), { added: 0, changed: 0, removed: 0, unchanged: 2, errors: 0 });
    assert.equal(d.logs.filter((r) => r.event === 'listening').length, 2, 'no socket was re-opened');

    c.send('two\n');
    await c.waitForData('two\n');
    assert.equal(c.received().toString(), 'one\ntwo\n');
  });

  test('a file that gains a syntax error keeps its services exactly as they were', async () => {
    const [p1, p2] = (await freePorts(2)) as [number, number];
    const d = await daemon({ services: { 'a.conf': greeter('g', p1, 'v1'), 'b.conf': cat('other', p2) } });
    const file = join(d.servicesDir, 'a.conf');
    // Line 6 is not `key = value`; the args change above it must not be applied either.
    await d.writeService('a.conf', `${greeter('g', p1, 'v2')}this line is broken\n`);
    const summary = await d.reload();
    assert.ok(Number(summary.errors) >= 1, `reload summary counts the error: ${JSON.stringify(summary)}`);
    assert.equal(summary.changed, 0);
    assert.equal(summary.added, 0);
    assert.equal(summary.removed, 0);
    const err = await d.waitFor((r) => r.event === 'config_error' && r.file === file, 'config_error for a.conf');
    assert.equal(err.line, 6, `config_error names line 6: ${JSON.stringify(err)}`);
    assert.equal((await exchange(p1, 'x')).data.toString(), 'v1\nx', 'the service still runs its old args');
    assert.equal((await exchange(p2, 'y')).data.toString(), 'y', 'the other file is unaffected');

    // Fixed later: the change is picked up.
    await d.writeService('a.conf', greeter('g', p1, 'v2'));
    const fixed = await d.reload();
    assert.deepEqual(counts(fixed), { added: 0, changed: 1, removed: 0, unchanged: 1, errors: 0 });
    assert.equal((await exchange(p1, 'x')).data.toString(), 'v2\nx');
  });

  test('a new file with errors adds nothing; once fixed it is picked up', async () => {
    const [p1, p2, p3] = (await freePorts(3)) as [number, number, number];
    const d = await daemon({ services: { 'a.conf': cat('a', p1) } });
    const broken = `${cat('good', p2)}\n[bad]\nport = ${p3}\nbind = 127.0.0.1\nserver = /bin/cat\nmax_children = 0\n`;
    // [bad] starts at line 6; max_children is line 10.
    await d.writeService('b.conf', broken);
    const summary = await d.reload();
    assert.equal(summary.added, 0, `nothing is added from a file with errors: ${JSON.stringify(summary)}`);
    assert.ok(Number(summary.errors) >= 1);
    const err = await d.waitFor((r) => r.event === 'config_error' && r.file === join(d.servicesDir, 'b.conf'), 'config_error for b.conf');
    assert.equal(err.line, 10);
    assert.equal(err.service, 'bad');
    assert.equal(await tryConnect(p2), 'ECONNREFUSED', 'the valid section of a broken new file is not served');
    assert.equal(await tryConnect(p3), 'ECONNREFUSED');
    assert.equal((await exchange(p1, 'a')).data.toString(), 'a');

    await d.writeService('b.conf', broken.replace('max_children = 0', 'max_children = 2'));
    const fixed = await d.reload();
    assert.deepEqual(counts(fixed), { added: 2, changed: 0, removed: 0, unchanged: 1, errors: 0 });
    assert.equal((await exchange(p2, 'g')).data.toString(), 'g');
    assert.equal((await exchange(p3, 'b')).data.toString(), 'b');
  });

  test('a service moved to another file with the same settings is unchanged', async () => {
    const [p1, p2] = (await freePorts(2)) as [number, number];
    const d = await daemon({ services: { 'a.conf': `${greeter('x', p1, 'hi')}\n${cat('y', p2)}` } });
    const c = await hold(p1);
    await c.waitForData('hi\n');
    await d.writeService('b.conf', greeter('x', p1, 'hi'));
    await d.writeService('a.conf', cat('y', p2));
    const summary = await d.reload();
    assert.deepEqual(counts(summary), { added: 0, changed: 0, removed: 0, unchanged: 2, errors: 0 });
    c.send('ping\n');
    await c.waitForData('ping\n');
    assert.equal((await exchange(p1, 'z')).data.toString(), 'hi\nz');

    // Renaming the file is a move too.
    await rename(join(d.servicesDir, 'b.conf'), join(d.servicesDir, 'c.conf'));
    assert.deepEqual(counts(await d.reload()), { added: 0, changed: 0, removed: 0, unchanged: 2, errors: 0 });
  });

  test('summary counts are exact for a scripted change (added=1 changed=1 removed=1 unchanged=1 errors=0)', async () => {
    const [p1, p2, p3, p4] = (await freePorts(4)) as [number, number, number, number];
    const d = await daemon({
      services: { 'a.conf': `${cat('keep', p1)}\n${greeter('change', p2, 'v1')}`, 'b.conf': cat('remove', p3) },
    });
    await d.writeService('a.conf', `${cat('keep', p1)}\n${greeter('change', p2, 'v2')}`);
    await d.removeService('b.conf');
    await d.writeService('c.conf', cat('add', p4));
    const summary = await d.reload();
    assert.deepEqual(counts(summary), { added: 1, changed: 1, removed: 1, unchanged: 1, errors: 0 });
    assert.equal(summary.level, 'info');
    assert.equal((await exchange(p1, 'k')).data.toString(), 'k');
    assert.equal((await exchange(p2, 'c')).data.toString(), 'v2\nc');
    assert.ok(await eventually(async () => (await tryConnect(p3)) === 'ECONNREFUSED', 15000));
    assert.equal((await exchange(p4, 'a')).data.toString(), 'a');
    assert.equal(d.logs.filter((r) => r.event === 'reload').length, 1, 'one summary line per reload');
  });
});

describe('reload on --watch', { timeout: 300000 }, () => {
  test('editing a file triggers exactly one reload, without SIGHUP', async () => {
    const [p, p2] = (await freePorts(2)) as [number, number];
    const d = await daemon({ services: { 'a.conf': greeter('w', p, 'v1') }, args: ['--watch'] });
    // `started` comes once the watcher has made its first scan: it watches from here on.
    assert.equal(d.logs.filter((r) => r.event === 'reload').length, 0);
    await d.writeService('a.conf', greeter('w', p, 'v2'));
    const summary = await d.waitFor((r) => r.event === 'reload', 'reload from --watch');
    assert.deepEqual(counts(summary), { added: 0, changed: 1, removed: 0, unchanged: 0, errors: 0 });
    // Debounced: one save, one reload. A second file is the marker: its events
    // come after those of the first save in the directory's inotify queue, so a
    // second reload for that save would come before the marker's.
    await d.writeService('b.conf', cat('marker', p2));
    const both = await d.waitForCount((r) => r.event === 'reload', 2, 'reload from --watch for the marker');
    assert.deepEqual(counts(both[1]!), { added: 1, changed: 0, removed: 0, unchanged: 1, errors: 0 });
    assert.equal(d.logs.filter((r) => r.event === 'reload').length, 2, 'one edit is one reload');
    assert.equal((await exchange(p, 'x')).data.toString(), 'v2\nx');
  });

  test('creating a file is picked up without SIGHUP', async () => {
    const [p1, p2] = (await freePorts(2)) as [number, number];
    const d = await daemon({ services: { 'a.conf': cat('a', p1) }, args: ['--watch'] });
    await d.writeService('b.conf', cat('b', p2));
    const summary = await d.waitFor((r) => r.event === 'reload', 'reload from --watch');
    assert.deepEqual(counts(summary), { added: 1, changed: 0, removed: 0, unchanged: 1, errors: 0 });
    assert.equal((await exchange(p2, 'new')).data.toString(), 'new');
  });
});
