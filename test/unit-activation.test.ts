// Socket activation without sockets: which inherited socket a service adopts
// (listen/inherited-match.ts), and what superd reads of LISTEN_PID,
// LISTEN_FDS and LISTEN_FDNAMES (removed in every case).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceDefinition } from '../src/config/types.js';
import { addressMatches, assignAtStart, socketFor, type InheritedFacts } from '../src/listen/inherited-match.js';
import { takeListenEnvironment } from '../src/listen/inherited.js';
import { definition } from './helpers/config.js';

const service = (name: string, more: Partial<ServiceDefinition> = {}): ServiceDefinition =>
  definition({ name, origin: { file: `${name}.conf`, line: 1 }, port: 7000, handler: { kind: 'server', program: '/bin/cat', argv: ['cat'] }, ...more });

const sock = (more: Partial<InheritedFacts>): InheritedFacts => ({ type: 'stream', family: 'inet4', host: '0.0.0.0', port: 7000, ipv6Only: false, listening: true, name: 'unknown', ...more });

const dualStack = sock({ family: 'inet6', host: '::' });
const anyV4 = sock({});
const v6Only = sock({ family: 'inet6', host: '::', ipv6Only: true });

test('tcp with no bind is the dual-stack [::]:P socket; 0.0.0.0:P only where the host has no IPv6', () => {
  const tcp = service('a');
  assert.equal(addressMatches(tcp, dualStack, true), true);
  assert.equal(addressMatches(tcp, anyV4, true), false);
  assert.equal(addressMatches(tcp, anyV4, false), true);
  assert.equal(addressMatches(tcp, v6Only, true), false);
  assert.equal(addressMatches(tcp, sock({ family: 'inet6', host: '::', port: 7001 }), true), false);
});

test('tcp4 and tcp6 are the one family; a bind address must be the same (IPv6 in any spelling)', () => {
  assert.equal(addressMatches(service('a', { protocol: 'tcp4' }), anyV4, true), true);
  assert.equal(addressMatches(service('a', { protocol: 'tcp4' }), dualStack, true), false);
  assert.equal(addressMatches(service('a', { protocol: 'tcp6' }), v6Only, true), true);
  assert.equal(addressMatches(service('a', { protocol: 'tcp6' }), dualStack, true), false);
  assert.equal(addressMatches(service('a', { bind: '127.0.0.1' }), sock({ host: '127.0.0.1' }), true), true);
  assert.equal(addressMatches(service('a', { bind: '127.0.0.2' }), sock({ host: '127.0.0.1' }), true), false);
  assert.equal(addressMatches(service('a', { protocol: 'tcp6', bind: '0:0::1' }), sock({ family: 'inet6', host: '::1', ipv6Only: true }), true), true);
});

test('the socket kind must fit: udp takes a datagram socket, tcp a listening stream, unix its path', () => {
  const udp = service('u', { protocol: 'udp' });
  assert.equal(addressMatches(udp, sock({ family: 'inet6', host: '::', type: 'dgram', listening: false }), true), true);
  assert.equal(addressMatches(udp, dualStack, true), false);
  assert.equal(addressMatches(service('a'), sock({ family: 'inet6', host: '::', type: 'dgram', listening: false }), true), false);
  assert.equal(addressMatches(service('a'), sock({ family: 'inet6', host: '::', listening: false }), true), false);
  const unix = service('x', { protocol: 'unix', port: null, path: '/run/x.sock' });
  assert.equal(addressMatches(unix, sock({ family: 'unix', host: '/run/x.sock', port: 0 }), true), true);
  assert.equal(addressMatches(unix, sock({ family: 'unix', host: '/run/y.sock', port: 0 }), true), false);
  assert.equal(addressMatches(unix, sock({ family: 'unix', host: '/run/x.sock', port: 0, type: 'dgram', listening: false }), true), false);
  // A wait service adopts the same way.
  assert.equal(addressMatches(service('w', { wait: true, protocol: 'udp4' }), sock({ type: 'dgram', listening: false }), true), true);
});

test('a LISTEN_FDNAMES name wins over an address; a name that is no service is ignored', () => {
  const named = sock({ family: 'inet6', host: '::', port: 9999, name: 'a' });
  assert.equal(socketFor(service('a'), [dualStack, named], true), named);
  assert.equal(socketFor(service('b'), [dualStack, named], true), dualStack);
  assert.equal(socketFor(service('b'), [named], true), null);
  // Named after the service, but of the wrong kind: the address decides.
  const wrongKind = sock({ family: 'inet6', host: '::', type: 'dgram', listening: false, name: 'a' });
  assert.equal(socketFor(service('a'), [wrongKind, dualStack], true), dualStack);
});

test('a service gets back the socket it had at start, but only while that socket still matches it', () => {
  const first = sock({ family: 'inet6', host: '::' });
  const second = sock({ family: 'inet6', host: '::' });
  const startedWith = (s: InheritedFacts): string | undefined => (s === second ? 'a' : undefined);
  assert.equal(socketFor(service('a'), [first, second], true, startedWith), second);
  // Its port changed: the socket it had is not its address any more.
  assert.equal(socketFor(service('a', { port: 7001 }), [first, second], true, startedWith), null);
});

test('at start every name match comes before any address match, and each socket goes to one service', () => {
  const shared = sock({ family: 'inet6', host: '::', name: 'second' });
  const assigned = assignAtStart([service('first'), service('second')], [shared], true);
  assert.deepEqual([...assigned.values()], ['second']);
  const stray = sock({ port: 8000, name: 'stray' });
  const two = assignAtStart([service('a'), service('b')], [dualStack, stray], true);
  assert.equal(two.get(dualStack), 'a');
  assert.equal(two.has(stray), false);
});

test('LISTEN_* are read only when LISTEN_PID is ours, and removed whatever they say', () => {
  const env: NodeJS.ProcessEnv = { LISTEN_PID: '42', LISTEN_FDS: '3', LISTEN_FDNAMES: 'a:b', KEEP: '1' };
  assert.deepEqual(takeListenEnvironment(env, 42), { fds: [3, 4, 5], names: ['a', 'b', 'unknown'] });
  assert.deepEqual(env, { KEEP: '1' });
  const other: NodeJS.ProcessEnv = { LISTEN_PID: '41', LISTEN_FDS: '1', LISTEN_FDNAMES: 'a' };
  assert.equal(takeListenEnvironment(other, 42), null);
  assert.deepEqual(other, {});
  for (const bad of [{ LISTEN_FDS: '1' }, { LISTEN_PID: '42', LISTEN_FDS: '0' }, { LISTEN_PID: '42', LISTEN_FDS: 'x' }, { LISTEN_PID: '42x', LISTEN_FDS: '1' }]) {
    const e: NodeJS.ProcessEnv = { ...bad };
    assert.equal(takeListenEnvironment(e, 42), null, JSON.stringify(bad));
    assert.deepEqual(e, {});
  }
});
