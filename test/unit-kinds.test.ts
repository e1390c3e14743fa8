// The pure parts of the socket kinds: when a wait socket is watched again
// (back-off), the environment of handlers without one remote end, and which
// changes of a definition need a new socket.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { listenKey, type ServiceDefinition } from '../src/config/types.js';
import { FIRST_DELAY_MS, FREE_RETRIES, MAX_DELAY_MS, planRearm, QUICK_EXIT_MS } from '../src/service/rearm.js';
import { localEnvironment, tcpBase } from '../src/spawn/env.js';

describe('planRearm: a wait handler that leaves its socket unread does not make superd spin', () => {
  test('a handler that ran a while, or drained its socket, resets the count', () => {
    assert.deepEqual(planRearm(7, { ranMs: QUICK_EXIT_MS + 1, pending: true }), { fruitless: 0, delayMs: 0 });
    assert.deepEqual(planRearm(7, { ranMs: 5, pending: false }), { fruitless: 0, delayMs: 0 });
  });
  test('the first quick exits are retried at once, then the delay doubles up to a ceiling', () => {
    let fruitless = 0;
    const delays: number[] = [];
    for (let i = 0; i < 12; i++) {
      const r = planRearm(fruitless, { ranMs: 0, pending: true });
      fruitless = r.fruitless;
      delays.push(r.delayMs);
    }
    assert.deepEqual(delays.slice(0, FREE_RETRIES), Array(FREE_RETRIES).fill(0));
    assert.equal(delays[FREE_RETRIES], FIRST_DELAY_MS);
    assert.equal(delays[FREE_RETRIES + 1], FIRST_DELAY_MS * 2);
    assert.equal(delays.at(-1), MAX_DELAY_MS);
    assert.ok(delays.every((d, i) => i === 0 || d >= (delays[i - 1] ?? 0)), 'never shorter than the one before');
  });
});

describe('localEnvironment: wait handlers and unix connections', () => {
  const base = tcpBase(new Map([['PATH', '/bin'], ['PROTO', 'evil'], ['UDPLOCALPORT', '1'], ['UNIXLOCALPATH', '/evil'], ['KEEP', 'x']]));
  test("the service's env cannot fake what superd sets", () => {
    assert.deepEqual(base, ['PATH=/bin', 'KEEP=x']);
  });
  test('udp: PROTO and the local end; an address only when bound to one', () => {
    assert.deepEqual(localEnvironment(base, { proto: 'UDP', localAddress: '127.0.0.1', localPort: 69 }), [
      'PATH=/bin', 'KEEP=x', 'PROTO=UDP', 'UDPLOCALIP=127.0.0.1', 'UDPLOCALPORT=69',
    ]);
    assert.deepEqual(localEnvironment(base, { proto: 'TCP', localAddress: '', localPort: 7 }), ['PATH=/bin', 'KEEP=x', 'PROTO=TCP', 'TCPLOCALPORT=7']);
  });
  test('unix: the socket path', () => {
    assert.deepEqual(localEnvironment(base, { proto: 'UNIX', localAddress: '/run/x.sock', localPort: 0 }), ['PATH=/bin', 'KEEP=x', 'PROTO=UNIX', 'UNIXLOCALPATH=/run/x.sock']);
  });
});

describe('listenKey: which changes need a new socket', () => {
  const def = (over: Partial<ServiceDefinition>): ServiceDefinition => ({
    name: 's', origin: { file: 'f', line: 1 }, protocol: 'tcp', port: 7, bind: null, path: null, socketMode: 0o666, wait: false,
    handler: { kind: 'server', program: '/bin/cat', argv: ['cat'] }, credentials: null, maxChildren: 1, queue: 1, maxPerSource: null,
    rate: null, ratePerSource: null, onlyFrom: null, noAccess: [], env: [], passEnv: [], timeout: null, stderr: 'log', disabled: false, proxy: null, ...over,
  });
  test('the listener kind (nowait, wait, builtin) and a unix mode are part of it; the program is not', () => {
    const base = listenKey(def({}));
    assert.equal(listenKey(def({ handler: { kind: 'server', program: '/bin/echo', argv: ['echo'] } })), base);
    assert.notEqual(listenKey(def({ wait: true })), base);
    assert.notEqual(listenKey(def({ handler: { kind: 'builtin', name: 'echo' } })), base);
    const unix = def({ protocol: 'unix', port: null, path: '/run/a.sock' });
    assert.notEqual(listenKey({ ...unix, socketMode: 0o600 }), listenKey(unix));
  });
});
