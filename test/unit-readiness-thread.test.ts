// The readiness thread (src/listen/readiness.ts) is a Worker, a JavaScript
// engine of its own: it runs only while something is watched and for
// IDLE_STOP_MS after, so that a superd without wait services and parked
// pipes does not carry it. A process of its own (this file) so that no other
// test's watch keeps it running.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, readdirSync, writeSync } from 'node:fs';
import { IDLE_STOP_MS, readiness, type Readiness } from '../src/listen/readiness.js';
import { isSysError } from '../src/sys/errors.js';
import { pipe } from './helpers/pipes.js';
import { eventually, sleep, within } from './helpers/wait.js';

function theReadiness(): Readiness {
  const r = readiness();
  if (isSysError(r)) assert.fail(`readiness(): ${r.message}`);
  return r;
}

const tasks = (): string[] => readdirSync('/proc/self/task');
const fds = (): number => readdirSync('/proc/self/fd').length;

/** Watches fd; resolves once its callback has run. */
function fired(r: Readiness, fd: number): Promise<void> {
  return new Promise((resolve) => r.watch(fd, resolve));
}

describe('the readiness thread runs only while something is watched', { timeout: 60000 }, () => {
  test('started by the first watch, ended IDLE_STOP_MS after the last: its thread and descriptors are gone again', async () => {
    const r = theReadiness();
    assert.equal(r.threadRunning, false, 'no thread before anything is watched');
    const before = { tasks: tasks(), fds: fds() };
    const p = pipe();
    try {
      const done = fired(r, p.read);
      assert.equal(r.threadRunning, true, 'the first watch starts it');
      let added: string[] = [];
      assert.ok(await eventually(() => (added = tasks().filter((t) => !before.tasks.includes(t))).length > 0, 10000), 'a thread of its own');
      writeSync(p.write, 'x');
      await within(done, 5000, 'the watch fires');
      // Nothing watched any more: it ends.
      assert.ok(await eventually(() => !r.threadRunning && tasks().every((t) => !added.includes(t)), 10000), `the thread ended: ${tasks().join(' ')}`);
    } finally {
      closeSync(p.read);
      closeSync(p.write);
    }
    assert.ok(await eventually(() => fds() <= before.fds, 5000), `descriptors back to ${before.fds}: ${fds()}`);
  });

  test('kept while something is watched, however long', async () => {
    const r = theReadiness();
    const held = pipe();
    const other = pipe();
    try {
      void fired(r, held.read);
      // Another watch comes and goes meanwhile: the held one keeps the thread.
      const done = fired(r, other.read);
      writeSync(other.write, 'x');
      await within(done, 5000, 'the other watch fires');
      await sleep(IDLE_STOP_MS * 2);
      assert.equal(r.threadRunning, true, 'still running while the held pipe is watched');
      const late = fired(r, other.read);
      await within(late, 5000, 'still answering');
    } finally {
      r.unwatch(held.read);
      for (const p of [held, other]) {
        closeSync(p.read);
        closeSync(p.write);
      }
    }
  });

  test('a watch that comes as the thread is being stopped is not lost', async () => {
    const r = theReadiness();
    for (let round = 0; round < 5; round++) {
      // Idle until the stop is asked; then at once, in the same turn, a descriptor that is readable already.
      assert.ok(await eventually(() => !r.threadRunning, 10000, 1), 'the idle thread is asked to stop');
      const p = pipe();
      try {
        writeSync(p.write, 'x');
        await within(fired(r, p.read), 5000, `round ${round}: the watch fires`);
      } finally {
        closeSync(p.read);
        closeSync(p.write);
      }
    }
  });

  test('keepFor: started with nothing watched, kept past IDLE_STOP_MS until its time is up, then ended', async () => {
    const r = theReadiness();
    assert.ok(await eventually(() => !r.threadRunning, 10000, 1), 'idle first');
    r.keepFor(IDLE_STOP_MS * 3);
    // At once, or once the one being stopped has ended.
    assert.ok(await eventually(() => r.threadRunning, 5000, 1), 'started');
    // A watch that comes and goes meanwhile does not shorten it.
    const p = pipe();
    try {
      const done = fired(r, p.read);
      writeSync(p.write, 'x');
      await within(done, 5000, 'the watch fires');
    } finally {
      closeSync(p.read);
      closeSync(p.write);
    }
    await sleep(IDLE_STOP_MS * 1.5); // the span measured, not a wait for anything
    assert.equal(r.threadRunning, true, 'still kept after IDLE_STOP_MS with nothing watched');
    assert.ok(await eventually(() => !r.threadRunning, 10000), 'ended once its time was up');
  });
});
