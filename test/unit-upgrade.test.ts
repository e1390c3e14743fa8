// The pure parts of an upgrade in place (src/upgrade/): the state's encoding
// and every check a state must pass before a descriptor it names is believed,
// the variable taken out of the environment whatever it says, and which
// service a socket the upgrade passed goes to (listen/inherited-match.ts),
// and how a move still under way is served on (upgrade/interim.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeAddress, type ServiceDefinition } from '../src/config/types.js';
import { assignAtStart, socketFor, type InheritedFacts } from '../src/listen/inherited-match.js';
import { decodeState, encodeState, STATE_FORMAT, STATE_VARIABLE, stateDescriptors, type UpgradeState } from '../src/upgrade/state.js';
import { interimDefinition, interimOf, servingOld } from '../src/upgrade/interim.js';
import { takeUpgradeState } from '../src/upgrade/resume.js';
import { definition } from './helpers/config.js';

function state(more: Partial<UpgradeState> = {}): UpgradeState {
  return {
    format: STATE_FORMAT,
    version: '0.1.0',
    startedAt: '2026-01-01T00:00:00.000Z',
    lastReload: { time: '2026-01-01T01:00:00.000Z', errors: 0 },
    control: { fd: 5, path: '/run/superd.sock', ownFile: { dev: 2049, ino: 77 } },
    client: 6,
    listeners: [
      { service: 'echo', address: '127.0.0.1:7000/tcp', fd: 7, ownFile: null },
      { service: 'sock', address: '/run/s.sock/unix', fd: 8, ownFile: { dev: 2049, ino: 78 } },
    ],
    inherited: [{ fd: 3, name: 'web', assigned: 'web' }],
    handlers: [{ service: 'echo', pid: 4242, ranMs: 1500, source: '127.0.0.1', timeoutInMs: 800, stderr: 9, wait: false, retired: false }],
    queued: [{ service: 'echo', fd: 10, proto: 'TCP', remoteAddress: '127.0.0.1', remotePort: 50000, local: '127.0.0.1', balancer: null, header: false }],
    builtins: [{ service: 'chargen', fd: 11, proto: 'TCP', remoteAddress: '127.0.0.1', remotePort: 50001, local: '127.0.0.1', balancer: null, builtin: 'chargen', ranMs: 20, timeoutInMs: null }],
    stats: { echo: { accepted: 12, failed: 1, refused: { rate: 2 }, lastError: { time: 't', kind: 'spawn', message: 'm' } } },
    ...more,
  };
}

test('a state decodes to what was encoded, and names each of its descriptors', () => {
  const s = state();
  assert.deepEqual(decodeState(encodeState(s)), s);
  assert.deepEqual(stateDescriptors(s).sort((a, b) => a - b), [3, 5, 6, 7, 8, 9, 10, 11]);
  assert.deepEqual(stateDescriptors(state({ control: null, client: null, handlers: [], queued: [], builtins: [] })).sort(), [3, 7, 8]);
  // The state of a superd that closed builtin connections at an upgrade: read as passing none.
  const { builtins: _, ...older } = s;
  assert.deepEqual(decodeState(JSON.stringify(older)), { ...s, builtins: [] });
});

test('a state that is not one is refused, saying what is wrong, before any descriptor is believed', () => {
  const bad = (text: string, why: RegExp): void => {
    const r = decodeState(text);
    assert.ok(r instanceof Error, `accepted ${text}`);
    assert.match(r.message, why);
  };
  const with_ = (more: Record<string, unknown>): string => JSON.stringify({ ...state(), ...more });
  bad('{', /not JSON/);
  bad('[]', /not an object/);
  bad(with_({ format: 99 }), /format 99, this superd reads format 1/);
  bad(with_({ client: 2 }), /client is malformed/);
  bad(with_({ client: 3.5 }), /client is malformed/);
  bad(with_({ listeners: [{ service: 'x', address: 'a', fd: 1, ownFile: null }] }), /listeners is malformed/);
  bad(with_({ handlers: [{ ...state().handlers[0], pid: 1 }] }), /handlers is malformed/);
  bad(with_({ handlers: [{ ...state().handlers[0], stderr: '9' }] }), /handlers is malformed/);
  bad(with_({ queued: [{ ...state().queued[0], proto: 'UDP' }] }), /queued is malformed/);
  bad(with_({ builtins: [{ ...state().builtins[0], builtin: 'qotd' }] }), /builtins is malformed/);
  bad(with_({ builtins: [{ ...state().builtins[0], fd: 10 }] }), /names a descriptor twice/);
  bad(with_({ stats: { echo: { accepted: 'many' } } }), /stats is malformed/);
  bad(with_({ control: { fd: 7, path: '/x', ownFile: null } }), /names a descriptor twice/);
  const { version: _, ...noVersion } = state();
  bad(JSON.stringify(noVersion), /version is malformed/);
});

test('SUPERD_UPGRADE_STATE is taken out of the environment whatever it says; only a memfd of ours is read', () => {
  for (const value of ['', 'x', '1', '-3', '99999']) {
    const env: NodeJS.ProcessEnv = { [STATE_VARIABLE]: value, PATH: '/bin' };
    const r = takeUpgradeState(env);
    assert.ok(r instanceof Error, `${value}: ${String(r)}`);
    assert.deepEqual(env, { PATH: '/bin' });
  }
  assert.equal(takeUpgradeState({}), null);
  // Descriptor 0 of this process is no memfd: left alone (and open).
  const env: NodeJS.ProcessEnv = { [STATE_VARIABLE]: '0' };
  assert.ok(takeUpgradeState(env) instanceof Error);
});

const service = (name: string, more: Partial<ServiceDefinition> = {}): ServiceDefinition =>
  definition({ name, origin: { file: `${name}.conf`, line: 1 }, port: 7000, bind: '127.0.0.1', handler: { kind: 'server', program: '/bin/cat', argv: ['cat'] }, ...more });

const passed = (def: ServiceDefinition, more: Partial<InheritedFacts> = {}): InheritedFacts => ({
  type: 'stream',
  family: 'inet4',
  host: '127.0.0.1',
  port: 7000,
  ipv6Only: false,
  listening: true,
  name: def.name,
  boundFor: describeAddress(def),
  ...more,
});

test('a socket an upgrade passed goes to its service only, and only at the same address', () => {
  const echo = service('echo');
  const socket = passed(echo);
  assert.equal(socketFor(echo, [socket], true), socket);
  // Another service on the very address does not take it, by name or by address.
  assert.equal(socketFor(service('other'), [socket], true), null);
  // The service moved (another port, another bind address, another protocol): it binds anew.
  assert.equal(socketFor(service('echo', { port: 7001 }), [socket], true), null);
  assert.equal(socketFor(service('echo', { bind: null }), [socket], true), null);
  assert.equal(socketFor(service('echo', { protocol: 'tcp4' }), [socket], true), null);
  const assigned = assignAtStart([service('other'), echo], [socket], true);
  assert.equal(assigned.get(socket), 'echo');
  assert.equal(assignAtStart([service('echo', { port: 7001 })], [socket], true).size, 0);
});

test('a move under way: the old socket is served by the service as it is now, at the old address, if it is still that kind of service', () => {
  const was = service('mover');
  const moved = service('mover', { port: 7001, maxChildren: 3 });
  const interim = interimOf(was, moved);
  assert.deepEqual(interim, { to: '127.0.0.1:7001/tcp', protocol: 'tcp', bind: '127.0.0.1', port: 7000, path: null, socketMode: was.socketMode, kind: 'nowait' });
  const s = state({ listeners: [{ service: 'mover', address: describeAddress(was), fd: 7, ownFile: null, interim }] });
  assert.deepEqual(decodeState(encodeState(s)), s);
  const malformed = decodeState(JSON.stringify({ ...s, listeners: [{ ...s.listeners[0], interim: { ...interim, protocol: 'sctp' } }] }));
  assert.ok(malformed instanceof Error && /listeners is malformed/.test(malformed.message));
  const serving = interimDefinition(moved, interim);
  assert.equal(serving === null ? null : describeAddress(serving), '127.0.0.1:7000/tcp');
  assert.equal(serving?.maxChildren, 3, "the service's settings as they are now");
  // Moved back meanwhile: the service takes its socket as at any upgrade.
  assert.equal(interimDefinition(was, interim), null);
  // Another kind of service, or another transport: the old socket is not for it.
  assert.equal(interimDefinition(service('mover', { port: 7001, wait: true }), interim), null);
  assert.equal(interimDefinition(service('mover', { port: 7001, handler: { kind: 'builtin', name: 'echo' } }), interim), null);
  assert.equal(interimDefinition(service('mover', { protocol: 'udp', port: 7001, wait: true }), { ...interim, kind: 'wait' }), null);
  assert.notEqual(interimDefinition(service('mover', { protocol: 'tcp6', bind: '::1' }), interim), null);
});

test('the old socket that serves while its service waits to bind: the nearest one still bound, through moves that never bound', () => {
  const rt = (name: string, listening: string | null): { name: string; listening: string | null } => ({ name, listening });
  const [a, b, c, d, e] = [rt('a', '127.0.0.1:1'), rt('b', null), rt('c', null), rt('d', '127.0.0.1:4'), rt('e', null)];
  // c (moved twice: a, then b, neither new socket bound) is served by a; d is bound; e has no predecessor.
  const serving = servingOld([c, d, e], new Map([[c, b], [b, a]]));
  assert.deepEqual([...serving].map(([old, next]) => [old.name, next.name]), [['a', 'c']]);
});
