// posix_spawn file actions built once per set of descriptors and shared
// (src/spawn/file-actions.ts), with glibc's own functions: the same set comes
// back for the same descriptors, a set a spawn is using is never destroyed,
// what glibc refuses is an error that names the action, and sets kept stay
// bounded.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FileActions } from '../src/spawn/file-actions.js';
import { loadSys, type Sys } from '../src/sys/load.js';

/** The real bindings (src/sys), with every init and destroy counted: a destroyed buffer must never be in use. */
function countingSys(): { sys: Sys; inits: number; destroyed: Buffer[] } {
  const real = loadSys();
  if (real instanceof Error) assert.fail(`loadSys: ${real.message}`);
  const seen = { sys: real, inits: 0, destroyed: [] as Buffer[] };
  seen.sys = {
    ...real,
    actionsInit: (a) => {
      seen.inits += 1;
      return real.actionsInit(a);
    },
    actionsDestroy: (a) => {
      seen.destroyed.push(a);
      return real.actionsDestroy(a);
    },
  };
  return seen;
}

describe('file actions, shared per set of descriptors', () => {
  test('the same descriptors get the same actions, built once; others get their own', () => {
    const seen = countingSys();
    const kept = new FileActions(seen.sys);
    const a = kept.lend({ fd: 20, stderr: 'log', stderrWrite: 22 });
    const b = kept.lend({ fd: 20, stderr: 'log', stderrWrite: 22 });
    const c = kept.lend({ fd: 20, stderr: 'log', stderrWrite: 23 });
    const d = kept.lend({ fd: 20, stderr: 'null', stderrWrite: -1 });
    assert.ok(typeof a !== 'string' && typeof b !== 'string' && typeof c !== 'string' && typeof d !== 'string');
    assert.equal(a.actions, b.actions, 'shared while both are lent');
    assert.notEqual(a.actions, c.actions, 'another pipe end, other actions');
    assert.notEqual(c.actions, d.actions);
    assert.equal(seen.inits, 3);
    for (const lent of [a, b, c, d]) lent.giveBack();
    assert.equal(seen.destroyed.length, 0, 'kept for the next connection');
    assert.equal(kept.size, 3);
  });

  test('past the bound, the least recently used set goes, but never one a spawn is still using', () => {
    const seen = countingSys();
    const kept = new FileActions(seen.sys, 2);
    const lent = [10, 11, 12].map((fd) => kept.lend({ fd, stderr: 'socket', stderrWrite: -1 }));
    const [first, second, third] = lent;
    assert.ok(first !== undefined && typeof first !== 'string' && typeof second !== 'string' && typeof third !== 'string' && second !== undefined && third !== undefined);
    assert.equal(seen.destroyed.length, 0, 'all three in use: none destroyed');
    assert.equal(kept.size, 3);
    first.giveBack();
    assert.deepEqual(seen.destroyed, [first.actions], 'the oldest, once given back');
    assert.equal(kept.size, 2);
    second.giveBack();
    third.giveBack();
    second.giveBack();
    assert.equal(seen.destroyed.length, 1, 'giving back twice changes nothing');
    const again = kept.lend({ fd: 12, stderr: 'socket', stderrWrite: -1 });
    assert.ok(typeof again !== 'string');
    assert.equal(again.actions, third.actions);
    again.giveBack();
  });

  test('what glibc refuses, or a descriptor that is not a connection, is an error naming it; nothing is kept', () => {
    const seen = countingSys();
    const kept = new FileActions(seen.sys);
    const std = kept.lend({ fd: 1, stderr: 'socket', stderrWrite: -1 });
    assert.equal(typeof std, 'string');
    assert.match(String(std), /no usable descriptor \(fd 1\)/);
    const refused = kept.lend({ fd: 30, stderr: 'log', stderrWrite: -1 });
    assert.equal(typeof refused, 'string');
    assert.match(String(refused), /posix_spawn_file_actions_adddup2\(-1, 2\) failed: .*EBADF|Bad file descriptor/);
    assert.equal(kept.size, 0);
    assert.equal(seen.destroyed.length, seen.inits, 'a half-built set is destroyed');
  });
});
