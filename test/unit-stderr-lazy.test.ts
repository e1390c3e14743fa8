// A handler's stderr pipe at its exit (src/stderr/pipe.ts, its owner
// src/stderr/pipes.ts), on real pipes in this process: closed at once when
// nothing was written and no one else holds it; looked at again when a spawn
// returns, not read, while another holder (a spawn in flight) still has it;
// read when something was written, or when the holder stays.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, readlinkSync, writeSync } from 'node:fs';
import { loadSys } from '../src/sys/load.js';
import type { StderrReader } from '../src/stderr/read.js';
import { HELD_AFTER_EXIT_MS, type StderrPipe } from '../src/stderr/pipe.js';
import { StderrPipes } from '../src/stderr/pipes.js';
import { pipe } from './helpers/pipes.js';
import { eventually } from './helpers/wait.js';

const isOpen = (fd: number): boolean => {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`).startsWith('pipe:');
  } catch {
    return false;
  }
};

/** A pipe of its own owner, never parked, whose reads are recorded, not done: `read` lists the descriptors it was asked to read. */
function lazy(fd: number): { pipes: StderrPipes; pipe: StderrPipe; read: number[]; done: number } {
  const lib = loadSys();
  if (lib instanceof Error) assert.fail(`park libc: ${lib.message}`);
  const read: number[] = [];
  const reader = (readFd: number): StderrReader => {
    read.push(readFd);
    return { done: false, stop: () => closeSync(readFd), ondone: null, handlerExited: () => undefined };
  };
  const pipes = new StderrPipes(lib, { parking: () => null, read: reader });
  const seen = { pipes, pipe: pipes.adopt(fd), read, done: 0 };
  assert.equal(seen.pipe.state, 'young');
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
    assert.equal(l.pipe.state, 'closed');
    assert.deepEqual(l.read, []);
    assert.equal(isOpen(p.read), false);
  });

  test('still held (a spawn in flight has a copy): not read; closed when a spawn returns and the copy is gone', () => {
    const p = pipe();
    const l = lazy(p.read);
    l.pipe.handlerExited();
    assert.equal(l.done, 0);
    assert.equal(l.pipe.state, 'held');
    assert.equal(isOpen(p.read), true, 'kept while held');
    l.pipes.spawnReturned();
    assert.equal(l.done, 0, 'another spawn returned, but the holder is still there');
    closeSync(p.write);
    l.pipes.spawnReturned();
    assert.equal(l.done, 1, 'closed once the holder went');
    assert.deepEqual(l.read, [], 'never read');
    assert.equal(isOpen(p.read), false);
  });

  test('held and written to: read when next looked at', () => {
    const p = pipe();
    const l = lazy(p.read);
    l.pipe.handlerExited();
    writeSync(p.write, 'late line\n');
    l.pipes.spawnReturned();
    assert.deepEqual(l.read, [p.read]);
    assert.equal(l.pipe.state, 'reading');
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

  test('stopped while held: closed, and not looked at or read again', () => {
    const p = pipe();
    const l = lazy(p.read);
    l.pipe.handlerExited();
    l.pipe.stop();
    assert.equal(l.done, 1);
    assert.equal(l.pipe.state, 'closed');
    assert.equal(isOpen(p.read), false);
    // What the sweep would do to a held pipe, done now: a closed one is left alone.
    l.pipes.spawnReturned();
    l.pipe.keepReading();
    assert.deepEqual(l.read, []);
    assert.equal(l.done, 1);
    closeSync(p.write);
  });
});
