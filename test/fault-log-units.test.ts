// Issue 14, the pieces on their own: the log sink's flow control and bounds,
// the pump between a handler's stderr and the log, what an exception nothing
// caught does, and what a --watch watcher error does. The daemon-level tests
// are in the other fault-log-*.test.ts files.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from './helpers/daemon.js';
import { eventually } from './helpers/wait.js';
import { EX_SOFTWARE, describeThrown, fatalHandler } from '../src/fatal.js';
import { formatText } from '../src/log/format.js';
import { createLogger } from '../src/log/logger.js';
import { LOG_BEHIND_BYTES, LOG_DROP_BYTES, LOG_FLUSH_MS, LogSink } from '../src/log/sink.js';
import type { LogFields, LogFlow, Logger, LogLevel } from '../src/log/types.js';
import { LinePump } from '../src/stderr/lines.js';
import { logHandlerStderr } from '../src/stderr/read.js';
import { startWatch, type FileWatcher } from '../src/watch.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

function recorder(): { lines: { level: LogLevel; event: string; fields: LogFields }[]; log(level: LogLevel, event: string, fields?: LogFields): void } {
  const lines: { level: LogLevel; event: string; fields: LogFields }[] = [];
  return { lines, log: (level, event, fields = {}) => void lines.push({ level, event, fields }) };
}

describe('log sink: bounded, and tells readers when it is behind', () => {
  const render = (level: string, event: string, fields: Record<string, string | number>): string => JSON.stringify({ level, event, ...fields });

  test('behind past LOG_BEHIND_BYTES unwritten; whenCaughtUp runs once it has been written', async () => {
    const dir = await tempDir('superd-sink-');
    try {
      const sink = new LogSink(join(dir, 'log'), render);
      const line = 'x'.repeat(99);
      assert.equal(sink.behind(), false);
      const count = Math.ceil(LOG_BEHIND_BYTES / 100) + 1;
      for (let i = 0; i < count; i++) sink.add(line);
      assert.equal(sink.behind(), true);
      let caughtUp = 0;
      sink.whenCaughtUp(() => (caughtUp += 1));
      assert.equal(caughtUp, 0);
      assert.ok(await eventually(() => caughtUp === 1, 5000), 'caught up');
      assert.equal(sink.behind(), false);
      await sink.close();
      const text = await readFile(join(dir, 'log'), 'utf8');
      assert.equal(text.split('\n').length - 1, count, 'every line written');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('past LOG_DROP_BYTES lines are dropped and counted: the first line once it has caught up says how many', async () => {
    const dir = await tempDir('superd-sink-');
    try {
      const sink = new LogSink(join(dir, 'log'), render);
      const line = 'y'.repeat(1023);
      const total = LOG_DROP_BYTES / 1024 + 500;
      for (let i = 0; i < total; i++) sink.add(line);
      await eventually(() => !sink.behind(), 5000);
      sink.add('after');
      await sink.close();
      const lines = (await readFile(join(dir, 'log'), 'utf8')).split('\n').filter((l) => l !== '');
      const kept = lines.filter((l) => l === line).length;
      const note = lines.find((l) => l.startsWith('{'));
      assert.ok(note !== undefined, 'a log_dropped line');
      const parsed = JSON.parse(note) as Record<string, unknown>;
      assert.equal(parsed.event, 'log_dropped');
      assert.equal(parsed.reason, 'backlog');
      assert.equal(parsed.count, total - kept, 'count is what was not written');
      assert.ok(kept * 1024 <= LOG_DROP_BYTES + 1024, `at most LOG_DROP_BYTES held: ${kept} lines`);
      assert.equal(lines.at(-1), 'after');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('lines that keep coming are written together, at most once per LOG_FLUSH_MS, all of them and in order', async () => {
    const dir = await tempDir('superd-sink-');
    try {
      const file = join(dir, 'log');
      const sink = new LogSink(file, render);
      // One line per event-loop turn for 300 ms (and at least 60 lines,
      // however slowly a loaded host turns), as under a steady load; the
      // file's size is looked at every turn, so each write shows as a change.
      const sizes = new Set<number>();
      let added = 0;
      const start = performance.now();
      while (performance.now() - start < 300 || added < 60) {
        sink.add(`line ${added++}`);
        await turn();
        sizes.add((await stat(file).catch(() => ({ size: 0 }))).size);
      }
      const elapsed = performance.now() - start;
      await sink.close();
      const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');
      assert.deepEqual(lines, Array.from({ length: added }, (_, i) => `line ${i}`));
      // A write per LOG_FLUSH_MS of the time the lines came in, plus the first and the last; one per line would be `added`.
      assert.ok(sizes.size <= elapsed / LOG_FLUSH_MS + 4, `${sizes.size} different sizes seen for ${added} lines in ${Math.round(elapsed)} ms`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('after close() a --log-file takes no more lines (stderr is not where its readers look)', async () => {
    const dir = await tempDir('superd-sink-');
    try {
      const sink = new LogSink(join(dir, 'log'), render);
      sink.add('before');
      await sink.close();
      sink.add('after');
      await turn();
      assert.equal(await readFile(join(dir, 'log'), 'utf8'), 'before\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('internal_error in text is one line, its stack quoted', () => {
    const line = formatText('t', 'error', 'internal_error', { error: 'boom', stack: 'Error: boom\n    at f (x.js:1:1)' });
    assert.ok(!line.includes('\n'));
    assert.match(line, /stack="Error: boom\\n {4}at f/);
  });
});

/** A source that records pause/resume. */
function source(): { paused: boolean; pauses: number; pause(): void; resume(): void } {
  return {
    paused: false,
    pauses: 0,
    pause() {
      this.paused = true;
      this.pauses += 1;
    },
    resume() {
      this.paused = false;
    },
  };
}

/** Where a process sleeps in the kernel (/proc/PID/wchan). */
async function wchan(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/wchan`, 'utf8').catch(() => '')).trim();
}

/**
 * Whether pid sleeps in a write that its reader's full buffer blocks: a pipe
 * (`pipe_write`, `anon_pipe_write` on recent kernels) or, as Node's stdio
 * 'pipe' is, a unix socket pair. Where the kernel hides wchan ('0'), whether
 * it sleeps at all.
 */
async function blockedWriting(pid: number): Promise<boolean> {
  const where = await wchan(pid);
  if (where !== '' && where !== '0') return /pipe_write|sock_alloc_send_pskb|unix_stream_sendmsg|sk_stream_wait_memory/.test(where);
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('S');
}

describe('line pump: a bounded number of lines per turn, the source paused meanwhile', () => {
  test('a big chunk is handed on over several turns, the source paused until it is done', async () => {
    const src = source();
    const got: string[] = [];
    const pump = new LinePump(src, (line) => void got.push(line), null);
    pump.push(Array.from({ length: 1000 }, (_, i) => `line ${i}\n`).join(''));
    assert.equal(got.length, 256, 'one turn: 256 lines');
    assert.equal(src.paused, true);
    assert.ok(await eventually(() => got.length === 1000, 10000));
    await turn();
    assert.equal(src.paused, false, 'read again once all is handed on');
    assert.equal(got[999], 'line 999');
  });

  test('a run of empty lines is one call with its count; other lines are as they were', () => {
    const calls: [string, number][] = [];
    const pump = new LinePump(source(), (line, n) => void calls.push([line, n]), null);
    pump.push('a\n\n\r\n\nb\n\nc');
    pump.end();
    assert.deepEqual(calls, [
      ['a', 1],
      ['', 3],
      ['b', 1],
      ['', 1],
      ['c', 1],
    ]);
    const flood: [string, number][] = [];
    const p2 = new LinePump(source(), (line, n) => void flood.push([line, n]), null);
    p2.push('\n'.repeat(65536));
    assert.deepEqual(flood, [['', 65536]]);
  });

  test('a full read (64 KiB) yields to the event loop even when it is one call', async () => {
    const src = source();
    const pump = new LinePump(src, () => undefined, null);
    pump.push('\n'.repeat(64 * 1024));
    assert.equal(src.paused, true, 'libuv must not read on at once');
    // It reads on after a short pause (a 1 ms timer): two turns of the loop
    // were not always enough under load, so wait for it, bounded.
    assert.ok(await eventually(() => !src.paused, 1000, 1), 'reading again after the pause');
  });

  test('while the log is behind the source stays paused; it reads again when the log has caught up', async () => {
    const src = source();
    let behind = true;
    const waiting: (() => void)[] = [];
    const flow: LogFlow = { behind: () => behind, whenCaughtUp: (fn) => void waiting.push(fn) };
    const got: string[] = [];
    const pump = new LinePump(src, (line) => void got.push(line), flow);
    pump.push('one\ntwo\n');
    assert.deepEqual(got, ['one', 'two']);
    assert.equal(src.paused, true);
    assert.equal(waiting.length, 1);
    await turn();
    assert.equal(src.paused, true, 'still paused');
    behind = false;
    for (const fn of waiting.splice(0)) fn();
    assert.equal(src.paused, false);
  });

  test('at the end, the rest (an unterminated line) is handed on, then onEnd once', async () => {
    let ended = 0;
    const got: string[] = [];
    const pump = new LinePump(source(), (line) => void got.push(line), null, () => (ended += 1));
    pump.push(Array.from({ length: 300 }, () => 'z\n').join('') + 'last');
    pump.end();
    assert.equal(ended, 0, 'not before every line is out');
    assert.ok(await eventually(() => ended === 1, 10000));
    assert.equal(got.length, 301);
    assert.equal(got.at(-1), 'last');
  });

  test("logHandlerStderr: a real handler's stderr is not read while the log is behind, so the handler waits", async (t) => {
    // setTimeout mocked: the reader's own turns are moved on by the test, and
    // at the end every timer still pending is run, however far off: nothing
    // later can resume the reader but the log catching up.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    /** Moves the reader on (timers a millisecond at a time, and turns of the event loop) until cond() holds: bounded. */
    const until = async (cond: () => boolean | Promise<boolean>, what: () => string | Promise<string>): Promise<void> => {
      const deadline = Date.now() + 10000;
      while (!(await cond())) {
        if (Date.now() > deadline) assert.fail(`not within 10 s: ${await what()}`);
        t.mock.timers.tick(1);
        await new Promise((r) => setImmediate(r));
      }
    };
    let behind = true;
    const waiting: (() => void)[] = [];
    const events: LogFields[] = [];
    const logger: Logger = {
      log: (_level, event, fields = {}) => void (event === 'stderr' && events.push(fields)),
      enabled: () => true,
      reopen: () => undefined,
      close: () => Promise.resolve(),
      flow: { behind: () => behind, whenCaughtUp: (fn) => void waiting.push(fn) },
    };
    const child = spawn('/bin/sh', ['-c', 'exec yes flood >&2'], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      assert.ok(child.stderr !== null && child.pid !== undefined);
      const stream = child.stderr;
      const pid = child.pid;
      logHandlerStderr(stream, logger, { service: 's', pid });
      await until(() => events.length > 0 && waiting.length > 0, () => 'lines came, then the reader waits');
      const held = events.length;
      // Observed, not waited for: superd stopped reading, so what Node had read
      // stays unread in the stream (not flowing), the pipe fills, and the
      // handler sleeps in its write.
      await until(
        async () => stream.readableFlowing === false && stream.readableLength > 0 && (await blockedWriting(pid)),
        async () => `the handler is blocked writing (wchan ${await wchan(pid)}), the stream paused with ${stream.readableLength} characters unread`,
      );
      // Every timer still pending runs now: none may resume the reader.
      t.mock.timers.runAll();
      await new Promise((r) => setImmediate(r));
      assert.equal(stream.readableFlowing, false, 'still paused after every pending timer ran');
      assert.equal(events.length, held, 'nothing read while the log is behind');
      t.mock.timers.reset();
      behind = false;
      for (const fn of waiting.splice(0)) fn();
      assert.ok(await eventually(() => events.length > held + 1000, 5000), 'reading again once it caught up');
      assert.deepEqual(Object.keys(events[0] ?? {}).sort(), ['lines', 'message', 'pid', 'service']);
      assert.equal(events[0]?.message, 'flood');
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('a logger from createLogger gives its flow to readers', () => {
    const logger = createLogger({ level: 'info', format: 'json', file: null });
    assert.equal(typeof logger.flow?.behind, 'function');
    assert.equal(logger.flow?.behind(), false);
  });
});

describe('an exception nothing caught', () => {
  function context(cleanup: () => Promise<void> = () => Promise.resolve()): {
    log: ReturnType<typeof recorder>;
    exits: number[];
    closed: number;
    handler: ReturnType<typeof fatalHandler>;
  } {
    const log = recorder();
    const ctx = {
      log,
      exits: [] as number[],
      closed: 0,
      handler: fatalHandler({
        logger: {
          log: log.log,
          close: () => {
            ctx.closed += 1;
            return Promise.resolve();
          },
        },
        cleanup,
        exit: (code) => void ctx.exits.push(code),
        deadlineMs: 200,
      }),
    };
    return ctx;
  }

  test('one internal_error with message and stack, then cleanup, the log closed, and exit 70', async () => {
    let cleaned = 0;
    const ctx = context(() => {
      cleaned += 1;
      return Promise.resolve();
    });
    ctx.handler(new Error('boom'), 'uncaughtException');
    assert.equal(ctx.log.lines.length, 1);
    const [line] = ctx.log.lines;
    assert.equal(line?.level, 'error');
    assert.equal(line?.event, 'internal_error');
    assert.equal(line?.fields.error, 'boom');
    assert.equal(line?.fields.origin, 'uncaughtException');
    assert.match(String(line?.fields.stack), /^Error: boom\n\s+at /);
    assert.ok(await eventually(() => ctx.exits.length === 1, 10000));
    assert.deepEqual(ctx.exits, [EX_SOFTWARE]);
    assert.equal(EX_SOFTWARE, 70);
    assert.equal(cleaned, 1);
    assert.equal(ctx.closed, 1);
  });

  test('a cleanup that fails or hangs still ends in exit 70, within the deadline', async () => {
    const failing = context(() => Promise.reject(new Error('cleanup broke')));
    failing.handler(new Error('first'), 'unhandledRejection');
    assert.ok(await eventually(() => failing.exits.length === 1, 10000));
    assert.deepEqual(failing.exits, [70]);
    const hanging = context(() => new Promise(() => undefined));
    hanging.handler(new Error('first'), 'uncaughtException');
    // The deadline (200 ms here) ends it: without one it would never exit.
    assert.ok(await eventually(() => hanging.exits.length === 1, 10000), 'exit despite a cleanup that never ends');
  });

  test('a second exception while exiting: logged, and exit at once', () => {
    const ctx = context(() => new Promise(() => undefined));
    ctx.handler(new Error('first'), 'uncaughtException');
    ctx.handler(new Error('second'), 'uncaughtException');
    assert.deepEqual(ctx.exits, [70]);
    assert.equal(ctx.log.lines.length, 2);
    assert.match(String(ctx.log.lines[1]?.fields.message), /earlier internal error/);
  });

  test('a log that throws does not stop the exit', async () => {
    const exits: number[] = [];
    const handler = fatalHandler({
      logger: {
        log: () => {
          throw new Error('log broke');
        },
        close: () => Promise.resolve(),
      },
      cleanup: () => Promise.resolve(),
      exit: (code) => void exits.push(code),
    });
    handler(new Error('boom'), 'uncaughtException');
    assert.ok(await eventually(() => exits.length === 1, 10000));
  });

  test('whatever was thrown is described', () => {
    assert.deepEqual(describeThrown('just a string'), { error: 'just a string', stack: '(no stack: a value that is not an Error was thrown)' });
    assert.equal(describeThrown({ code: 7 }).error, '{"code":7}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.equal(describeThrown(cyclic).error, '[object Object]');
    assert.equal(describeThrown(undefined).error, 'undefined');
  });
});

/** Well past watch.ts's debounce (300 ms) and short of its first-scan limit (10 s). */
const PAST_DEBOUNCE_MS = 5000;

/** A stand-in for chokidar: the test emits its events. */
class FakeWatcher extends EventEmitter implements FileWatcher {
  closed = 0;
  close(): Promise<void> {
    this.closed += 1;
    return Promise.resolve();
  }
}

function errno(code: string, path?: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: something failed${path === undefined ? '' : `, '${path}'`}`), { code, path });
}

describe('--watch: what a watcher error does', () => {
  async function started(): Promise<{ fake: FakeWatcher; reloads: () => number; log: ReturnType<typeof recorder>; watch: Awaited<ReturnType<typeof startWatch>> }> {
    const fake = new FakeWatcher();
    const log = recorder();
    let reloads = 0;
    const pending = startWatch('/srv/services.d', () => (reloads += 1), log, () => Promise.resolve(fake));
    await new Promise((r) => setImmediate(r));
    fake.emit('ready');
    const watch = await pending;
    return { fake, reloads: () => reloads, log, watch };
  }

  for (const code of ['EMFILE', 'ENOSPC', 'ENFILE']) {
    test(`${code} (inotify out of instances or watches): --watch is off, said once, the watcher closed; changes no longer reload`, async (t) => {
      // The debounce timer is mocked: time is moved past it, not waited out.
      t.mock.timers.enable({ apis: ['setTimeout'] });
      const { fake, reloads, log, watch } = await started();
      // Before the error a change reloads once the debounce has passed (so the check below can fail).
      fake.emit('all', 'change', '/srv/services.d/a.conf');
      t.mock.timers.tick(PAST_DEBOUNCE_MS);
      assert.equal(reloads(), 1, 'a change reloads while the watch is on');
      fake.emit('error', errno(code));
      fake.emit('error', errno(code));
      assert.equal(watch.active, false);
      assert.equal(fake.closed, 1);
      const failed = log.lines.filter((l) => l.event === 'watch_failed');
      assert.equal(failed.length, 1);
      assert.equal(failed[0]?.level, 'error');
      assert.match(String(failed[0]?.fields.message), /SIGHUP/);
      fake.emit('all', 'change', '/srv/services.d/a.conf');
      t.mock.timers.tick(PAST_DEBOUNCE_MS);
      assert.equal(reloads(), 1, 'no reload after the watch is off');
      await watch.close();
      assert.equal(fake.closed, 1, 'closed once');
    });
  }

  test('an error on one entry (EACCES, ELOOP): logged once per kind, and changes still reload', async () => {
    const { fake, reloads, log, watch } = await started();
    fake.emit('error', errno('EACCES', '/srv/services.d/private'));
    fake.emit('error', errno('EACCES', '/srv/services.d/other'));
    fake.emit('error', errno('ELOOP', '/srv/services.d/loop'));
    fake.emit('error', 'not even an Error');
    const errors = log.lines.filter((l) => l.event === 'watch_error');
    assert.deepEqual(
      errors.map((l) => l.fields.path),
      ['/srv/services.d/private', '/srv/services.d/loop', '/srv/services.d'],
    );
    assert.equal(watch.active, true);
    assert.equal(fake.closed, 0);
    fake.emit('all', 'change', '/srv/services.d/a.conf');
    assert.ok(await eventually(() => reloads() === 1, 10000), 'a change still reloads');
    await watch.close();
  });

  test('an error before the first scan is done: startWatch does not wait for it', async () => {
    const fake = new FakeWatcher();
    const log = recorder();
    const pending = startWatch('/srv/services.d', () => undefined, log, () => Promise.resolve(fake));
    await new Promise((r) => setImmediate(r));
    fake.emit('error', errno('EMFILE'));
    const watch = await pending;
    assert.equal(watch.active, false);
    assert.equal(log.lines[0]?.event, 'watch_failed');
  });
});
