// Real pipes in the test process, made the way superd makes a handler's
// stderr pipe (pipe2 with O_CLOEXEC, through the same libc bindings).
import assert from 'node:assert/strict';
import { O_CLOEXEC } from '../../src/sys/constants.js';
import { loadSys } from '../../src/sys/load.js';

export function pipe(): { read: number; write: number } {
  const sys = loadSys();
  if (sys instanceof Error) assert.fail(`loadSys: ${sys.message}`);
  const fds = new Int32Array(2);
  assert.equal(sys.pipe2(fds, O_CLOEXEC), 0, 'pipe2');
  return { read: fds[0] ?? -1, write: fds[1] ?? -1 };
}
