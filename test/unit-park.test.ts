// Parking quiet stderr pipes out of superd's descriptor table
// (src/stderr/park.ts), on real pipes in this process: what is parked
// leaves /proc/self/fd, what is written to it brings it back with its bytes,
// what hangs up is closed, and nothing is left open once nothing is parked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, readdirSync, readlinkSync, readSync, writeSync } from 'node:fs';
import { isSysError } from '../src/sys/errors.js';
import { readiness } from '../src/listen/readiness.js';
import { loadSys } from '../src/sys/load.js';
import { PipeParking } from '../src/stderr/park.js';
import { pipe } from './helpers/pipes.js';
import { eventually } from './helpers/wait.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;
/** How many of our descriptors are ends of this pipe (both ends show the same pipe:[inode]); reading /proc opens one more, so numbers alone say nothing. */
function endsOf(p: { write: number }): number {
  const pipeName = readlinkSync(`/proc/self/fd/${p.write}`);
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === pipeName;
    } catch {
      return false;
    }
  }).length;
}


function parking(): PipeParking {
  const sys = loadSys();
  if (sys instanceof Error) assert.fail(`loadSys: ${sys.message}`);
  const watcher = readiness();
  if (isSysError(watcher)) assert.fail(`readiness: ${watcher.message}`);
  return new PipeParking(sys, watcher);
}

/**
 * The readiness thread runs while something is watched (and a second after):
 * a pipe nobody writes to is watched for the whole suite, so the thread and
 * its few descriptors are there before any count is taken and stay until the
 * end. It is seen to answer first. Returns how to let it go.
 */
async function readinessRunning(): Promise<() => void> {
  const watcher = readiness();
  if (isSysError(watcher)) assert.fail(`readiness: ${watcher.message}`);
  const p = pipe();
  let fired = false;
  watcher.watch(p.read, () => void (fired = true));
  writeSync(p.write, 'x');
  const ok = await eventually(() => fired, 5000, 5);
  closeSync(p.read);
  closeSync(p.write);
  assert.ok(ok, 'the readiness thread answers');
  const held = pipe();
  watcher.watch(held.read, () => assert.fail('nothing is written to the held pipe'));
  return () => {
    watcher.unwatch(held.read);
    closeSync(held.read);
    closeSync(held.write);
  };
}

interface Watched {
  input: number[];
  gone: number;
  onInput: (fd: number) => void;
  onGone: () => void;
}
function watched(): Watched {
  const w: Watched = { input: [], gone: 0, onInput: (fd) => void w.input.push(fd), onGone: () => void (w.gone += 1) };
  return w;
}

describe('parking quiet stderr pipes', () => {
  let release = (): void => undefined;
  before(async () => {
    release = await readinessRunning();
  });
  after(() => release());

  test('a parked pipe leaves the descriptor table; a write brings it back, under a new descriptor, with the bytes', async () => {
    const parked = parking();
    const before = openFds();
    const p = pipe();
    const w = watched();
    const tag = parked.park(p.read, w.onInput, w.onGone);
    assert.ok(tag > 0, 'parked');
    assert.equal(endsOf(p), 1, 'only the write end is ours: the read end is closed');
    // Ours: the write end. Parking's: one socketpair and one epoll set.
    assert.equal(openFds(), before + 1 + 3);
    assert.equal(parked.size, 1);
    writeSync(p.write, 'hello\n');
    assert.ok(await eventually(() => w.input.length === 1, 3000, 5), 'handed back after the write (the readiness thread)');
    const fd = w.input[0] ?? -1;
    const buf = Buffer.alloc(64);
    const n = readSync(fd, buf, 0, 64, null);
    assert.equal(buf.subarray(0, n).toString(), 'hello\n');
    assert.equal(w.gone, 0);
    assert.equal(parked.size, 0);
    closeSync(fd);
    closeSync(p.write);
    assert.equal(openFds(), before, 'nothing parked: every descriptor of parking is closed');
  });

  test('a pipe with something in it already, or no writer, is not parked: the caller keeps it', () => {
    const parked = parking();
    const before = openFds();
    const full = pipe();
    writeSync(full.write, 'early\n');
    assert.equal(parked.park(full.read, () => assert.fail('no input callback'), () => assert.fail('no gone callback')), -1);
    assert.equal(endsOf(full), 2);
    const ended = pipe();
    closeSync(ended.write);
    assert.equal(parked.park(ended.read, () => assert.fail('no input callback'), () => assert.fail('no gone callback')), -1);
    assert.equal(readlinkSync(`/proc/self/fd/${ended.read}`).startsWith('pipe:'), true, 'still open');
    for (const fd of [full.read, full.write, ended.read]) closeSync(fd);
    assert.equal(openFds(), before);
  });

  test('pipes whose writers are gone are closed and reported gone; then parking holds nothing open', async () => {
    const parked = parking();
    const before = openFds();
    const pipes = Array.from({ length: 5 }, () => pipe());
    const w = watched();
    for (const p of pipes) assert.ok(parked.park(p.read, w.onInput, w.onGone) > 0);
    for (const p of pipes) closeSync(p.write);
    // Half of a bucket hung up, or the next sweep (1 s): well within 3 s.
    assert.ok(await eventually(() => w.gone === 5, 3000, 10), `${w.gone} of 5 reported gone`);
    assert.deepEqual(w.input, []);
    assert.equal(parked.size, 0);
    assert.equal(openFds(), before);
  });

  test('close(tag): the pipe is closed at once, so its writer gets EPIPE; its callbacks do not run', () => {
    const parked = parking();
    const before = openFds();
    const p = pipe();
    const tag = parked.park(p.read, () => assert.fail('no input callback'), () => assert.fail('no gone callback'));
    assert.ok(tag > 0);
    parked.close(tag);
    assert.throws(() => writeSync(p.write, 'x'), { code: 'EPIPE' });
    closeSync(p.write);
    assert.equal(openFds(), before);
  });

  test('150 pipes take three buckets; a write to one brings back that one only, the rest stay parked', async () => {
    const parked = parking();
    const before = openFds();
    const pipes = Array.from({ length: 150 }, () => pipe());
    const watchers = pipes.map(() => watched());
    pipes.forEach((p, i) => assert.ok(parked.park(p.read, watchers[i]!.onInput, watchers[i]!.onGone) > 0, `pipe ${i} parked`));
    // 150 write ends of ours, 3 socketpairs and an epoll set: not 300.
    assert.equal(openFds(), before + 150 + 3 * 2 + 1);
    writeSync(pipes[77]!.write, 'seventy-seven\n');
    assert.ok(await eventually(() => watchers[77]!.input.length === 1, 3000, 5), 'pipe 77 handed back');
    const fd = watchers[77]!.input[0] ?? -1;
    const buf = Buffer.alloc(64);
    assert.equal(buf.subarray(0, readSync(fd, buf, 0, 64, null)).toString(), 'seventy-seven\n');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(watchers.filter((w) => w.input.length > 0 || w.gone > 0).length, 1, 'only pipe 77 came back');
    assert.equal(parked.size, 149);
    closeSync(fd);
    for (const p of pipes) closeSync(p.write);
    assert.ok(await eventually(() => parked.size === 0, 3000, 10), `${parked.size} still parked after every writer went`);
    assert.equal(watchers.filter((w) => w.gone === 1).length, 149);
    assert.equal(openFds(), before);
  });
});
