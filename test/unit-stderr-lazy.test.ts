// A handler's stderr pipe at its exit (src/spawn/stderr-lazy.ts), on real
// pipes in this process: closed at once when nothing was written and no one
// else holds it; looked at again when a spawn returns, not read, while
// another holder (a spawn in flight) still has it; read when something was
// written, or when the holder stays.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, readlinkSync, writeSync } from 'node:fs';
import { loadSys } from '../src/sys/load.js';
import type { StderrReader } from '../src/spawn/stderr.js';
import { HELD_AFTER_EXIT_MS, lazyStderr, spawnReturned } from '../src/spawn/stderr-lazy.js';
import { pipe } from './helpers/pipes.js';
import { eventually } from './helpers/wait.js';


const isOpen = (fd: number): boolean => {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`).startsWith('pipe:');
  } catch {
    return false;
  }
};

/** A lazy pipe whose reads are recorded, not done: `read` lists the descriptors it was asked to read. */
function lazy(fd: number): { pipe: StderrReader; read: number[]; done: number } {
  const sys = loadSys();
  if (sys instanceof Error) assert.fail(`loadSys: ${sys.message}`);
  const seen = { pipe: null as unknown as StderrReader, read: [] as number[], done: 0 };
  const reader = (readFd: number): StderrReader => {
    seen.read.push(readFd);
    return { done: false, stop: () => closeSync(readFd), ondone: null, handlerExited: () => undefined };
  };
  seen.pipe = lazyStderr(sys, null, fd, reader);
  seen.pipe.ondone = () => void (seen.done += 1);
  return seen;
}

describe("a handler's stderr pipe at its exit", () => {
  test('no writer left and nothing written: closed at once, never read', () => {
    const p = pipe();
    const l = lazy(p.read);
    closeSync(p.write);
    l.pipe.handlerExited();
    assert.equal(l.done, 1);
    assert.deepEqual(l.read, []);
    assert.equal(isOpen(p.read), false);
  });

  test('still held (a spawn in flight has a copy): not read; closed when a spawn returns and the copy is gone', () => {
    const p = pipe();
    const l = lazy(p.read);
    l.pipe.handlerExited();
    assert.equal(l.done, 0);
    assert.equal(isOpen(p.read), true, 'kept while held');
    spawnReturned();
    assert.equal(l.done, 0, 'another spawn returned, but the holder is still there');
    closeSync(p.write);
    spawnReturned();
    assert.equal(l.done, 1, 'closed once the holder went');
    assert.deepEqual(l.read, [], 'never read');
    assert.equal(isOpen(p.read), false);
  });

  test('held and written to: read when next looked at', () => {
    const p = pipe();
    const l = lazy(p.read);
    l.pipe.handlerExited();
    writeSync(p.write, 'late line\n');
    spawnReturned();
    assert.deepEqual(l.read, [p.read]);
    l.pipe.stop();
    closeSync(p.write);
  });

  test('held and no spawn returns: the sweep looks again, and closes it', async () => {
    const p = pipe();
    const l = lazy(p.read);
    l.pipe.handlerExited();
    closeSync(p.write);
    assert.ok(await eventually(() => l.done === 1, 2000, 5), 'closed by the sweep');
    assert.deepEqual(l.read, []);
  });

  test('held for good (something the handler left behind): read once HELD_AFTER_EXIT_MS have passed', async () => {
    const p = pipe();
    const l = lazy(p.read);
    const exited = performance.now();
    l.pipe.handlerExited();
    assert.ok(await eventually(() => l.read.length === 1, 2000, 5), 'read in the end');
    assert.ok(performance.now() - exited >= HELD_AFTER_EXIT_MS - 1, 'not before its time');
    assert.equal(l.done, 0, 'not done: its end of file is still to come');
    l.pipe.stop();
    closeSync(p.write);
  });

  test('stopped while held: closed, and not looked at again', async () => {
    const p = pipe();
    const l = lazy(p.read);
    l.pipe.handlerExited();
    l.pipe.stop();
    assert.equal(l.done, 1);
    assert.equal(isOpen(p.read), false);
    await new Promise((r) => setTimeout(r, HELD_AFTER_EXIT_MS + 20));
    assert.deepEqual(l.read, []);
    closeSync(p.write);
  });
});
