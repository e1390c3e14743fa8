// Pure pieces of the connection path, tested without sockets.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import type { ServiceDefinition } from '../src/config/types.js';
import { plainAddress } from '../src/listen/address.js';
import { admit } from '../src/policy/admission.js';
import { baseEnvironment, tcpBase, tcpEnvironment } from '../src/spawn/env.js';
import { forEachLine } from '../src/stderr/lines.js';
import { signalName } from '../src/reap/signal-name.js';
import { strerror } from '../src/sys/errors.js';

describe('admit: max_children and queue', () => {
  const limits = { maxChildren: 2, queue: 1 };
  test('starts while slots are free and nobody waits', () => {
    assert.equal(admit({ running: 0, queued: 0 }, limits), 'start');
    assert.equal(admit({ running: 1, queued: 0 }, limits), 'start');
  });
  test('queues when all slots are taken, up to the queue size', () => {
    assert.equal(admit({ running: 2, queued: 0 }, limits), 'queue');
  });
  test('refuses past the queue', () => {
    assert.equal(admit({ running: 2, queued: 1 }, limits), 'refuse');
  });
  test('a new arrival never overtakes a queued one, even when a slot is free', () => {
    assert.equal(admit({ running: 1, queued: 1 }, { maxChildren: 2, queue: 5 }), 'queue');
  });
  test('queue = 0 refuses at once when full', () => {
    assert.equal(admit({ running: 1, queued: 0 }, { maxChildren: 1, queue: 0 }), 'refuse');
  });
});

describe('handler environment (SPEC §3)', () => {
  const def = {
    name: 'svc',
    passEnv: ['LANG', 'MISSING'],
    env: ['GREETING=hello world', 'PATH=/opt/bin', 'SUPERD_SERVICE=spoofed', 'EMPTY='],
  } as unknown as ServiceDefinition;
  const own = { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', SECRET: 'x' };

  test('only PATH, pass_env and env, with SUPERD_SERVICE winning over env', () => {
    const base = baseEnvironment(def, own);
    assert.deepEqual(Object.fromEntries(base), {
      PATH: '/opt/bin',
      LANG: 'C.UTF-8',
      GREETING: 'hello world',
      SUPERD_SERVICE: 'svc',
      EMPTY: '',
    });
  });
  test("pass_env looks up superd's own variables only, never Object.prototype's", () => {
    const names = ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', 'LANG'];
    const withProto = { ...def, passEnv: names, env: [] } as unknown as ServiceDefinition;
    for (const own of [{ PATH: '/bin', LANG: 'C' }, process.env]) {
      const base = baseEnvironment(withProto, own);
      for (const name of names.slice(0, -1)) assert.equal(base.has(name), false, name);
      for (const value of base.values()) assert.equal(typeof value, 'string');
      assert.ok(!tcpBase(base).some((w) => /function|\[object/.test(w)), tcpBase(base).join('\n'));
    }
    // A variable that really has such a name is passed.
    const real = Object.defineProperty({ PATH: '/bin' }, 'toString', { value: 'yes', enumerable: true });
    assert.equal(baseEnvironment(withProto, real as NodeJS.ProcessEnv).get('toString'), 'yes');
  });
  test('a default PATH when superd has none', () => {
    const base = baseEnvironment({ ...def, env: [] } as ServiceDefinition, {});
    assert.match(base.get('PATH') ?? '', /\/usr\/bin/);
  });
  test('connection variables as tcpserver and systemd set them, winning over env', () => {
    const base = new Map([['TCPREMOTEIP', 'spoofed'], ['PATH', '/bin']]);
    const env = tcpEnvironment(tcpBase(base), { remoteAddress: '10.0.0.1', remotePort: 4000, localAddress: '127.0.0.1', localPort: 7 });
    assert.deepEqual(env, [
      'PATH=/bin',
      'PROTO=TCP',
      'TCPREMOTEIP=10.0.0.1',
      'TCPREMOTEPORT=4000',
      'TCPLOCALIP=127.0.0.1',
      'TCPLOCALPORT=7',
      'REMOTE_ADDR=10.0.0.1',
      'REMOTE_PORT=4000',
    ]);
    assert.equal(base.get('TCPREMOTEIP'), 'spoofed', 'the per-service base is not modified');
  });
});

describe('addresses', () => {
  test('an IPv4 client on a dual-stack socket is plain IPv4', () => {
    assert.equal(plainAddress('::ffff:127.0.0.1'), '127.0.0.1');
  });
  test('IPv6 stays as it is', () => {
    assert.equal(plainAddress('::1'), '::1');
    assert.equal(plainAddress('::ffff:abcd'), '::ffff:abcd');
  });
  test('a socket reset before we looked has no address', () => {
    assert.equal(plainAddress(undefined), '');
  });
});

describe('signal names and errno', () => {
  test('an unknown signal number still has a name', () => {
    assert.equal(signalName(99), 'SIG99');
  });
  test('errno values read as text with their name', () => {
    assert.equal(strerror(2), 'no such file or directory (ENOENT)');
    assert.equal(strerror(13), 'permission denied (EACCES)');
  });
});

describe('stderr lines', () => {
  const collect = async (chunks: string[]): Promise<string[]> => {
    const stream = new PassThrough();
    const lines: string[] = [];
    forEachLine(stream, (line) => lines.push(line));
    const ended = new Promise((resolve) => stream.on('end', resolve));
    for (const c of chunks) stream.write(c);
    stream.end();
    await ended;
    return lines;
  };
  test('lines split across chunks are joined, CRLF trimmed, the last unterminated line kept', async () => {
    assert.deepEqual(await collect(['one\ntw', 'o\r\nthr', 'ee']), ['one', 'two', 'three']);
  });
  test('a line without newline is cut into bounded pieces, no byte lost', async () => {
    const long = 'x'.repeat(10000);
    const lines = await collect([long]);
    assert.ok(lines.every((l) => l.length <= 4096));
    assert.equal(lines.join(''), long);
  });
  test('empty lines are kept', async () => {
    assert.deepEqual(await collect(['a\n\nb\n']), ['a', '', 'b']);
  });
});
