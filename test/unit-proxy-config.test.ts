// The PROXY protocol keys (SPEC §2), pure: parsed with their default, refused
// with an actionable message at the key's line wherever a header cannot come
// (udp, unix, a tcp wait program) or cannot be trusted (no proxy_from), and
// a change of them is a settings change on reload, never a new socket.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { scanIni } from '../src/config/scan.js';
import { parseSection } from '../src/config/validate.js';
import { planReload } from '../src/config/plan.js';
import type { ServiceDefinition } from '../src/config/types.js';
import { definition, systemDatabases } from './helpers/config.js';

const DBS = systemDatabases([['root', 0, 0]], [['root', 0]], 'smtp 25/tcp\n');

/** `[p]` on line 1, then each key on its own line from line 2. */
function section(lines: string[]): ReturnType<typeof parseSection> {
  const scan = scanIni('/s/p.conf', ['[p]', ...lines].join('\n'));
  const first = scan.sections[0];
  assert.ok(first !== undefined && scan.errors.length === 0);
  return parseSection('/s/p.conf', first, DBS);
}

const CAT = ['port = 7000', 'server = /bin/cat'];

describe('proxy keys: accepted', () => {
  test('v1, v2 and any, with addresses and blocks, proxy_timeout defaulting to 5 s', () => {
    for (const version of ['v1', 'v2', 'any', 'V2'] as const) {
      const r = section([...CAT, `proxy_protocol = ${version}`, 'proxy_from = 10.0.0.5, 192.168.0.0/16 ::1']);
      assert.deepEqual(r.errors, []);
      assert.deepEqual(r.definition?.proxy, { version: version.toLowerCase(), from: ['10.0.0.5', '192.168.0.0/16', '::1'], timeout: 5 });
    }
  });
  test('proxy_timeout in seconds, fractions too; tcp4, tcp6 and a builtin take the keys', () => {
    const r = section([...CAT, 'proxy_protocol = any', 'proxy_from = 127.0.0.1', 'proxy_timeout = 1.5']);
    assert.equal(r.definition?.proxy?.timeout, 1.5);
    for (const lines of [['protocol = tcp4', ...CAT], ['protocol = tcp6', ...CAT], ['port = 7', 'builtin = echo']]) {
      const s = section([...lines, 'proxy_protocol = v2', 'proxy_from = ::1']);
      assert.deepEqual(s.errors, [], lines.join(' '));
      assert.equal(s.definition?.proxy?.version, 'v2');
    }
  });
  test('no keys: no proxy', () => {
    assert.equal(section(CAT).definition?.proxy, null);
  });
});

interface Refusal {
  lines: string[];
  /** Line of the error (the section is line 1). */
  line: number;
  code: string;
  says: string;
}

const REFUSALS: Record<string, Refusal> = {
  'proxy_protocol without proxy_from': { lines: [...CAT, 'proxy_protocol = v1'], line: 4, code: 'missing_key', says: 'proxy_protocol needs proxy_from' },
  'proxy_from without proxy_protocol': { lines: [...CAT, 'proxy_from = 10.0.0.1'], line: 4, code: 'bad_combination', says: 'proxy_from has no effect without proxy_protocol' },
  'proxy_timeout without proxy_protocol': { lines: [...CAT, 'proxy_timeout = 2'], line: 4, code: 'bad_combination', says: 'proxy_timeout has no effect without proxy_protocol' },
  'an unknown version': { lines: [...CAT, 'proxy_protocol = v3', 'proxy_from = ::1'], line: 4, code: 'bad_value', says: 'proxy_protocol must be one of v1, v2, any' },
  'yes for a version': { lines: [...CAT, 'proxy_protocol = yes', 'proxy_from = ::1'], line: 4, code: 'bad_value', says: 'v1, v2, any' },
  'a host name in proxy_from': { lines: [...CAT, 'proxy_protocol = v1', 'proxy_from = lb.example.com'], line: 5, code: 'bad_value', says: 'proxy_from takes IP addresses and CIDR blocks' },
  'a prefix too long in proxy_from': { lines: [...CAT, 'proxy_protocol = v1', 'proxy_from = 10.0.0.0/33'], line: 5, code: 'bad_value', says: 'proxy_from: the prefix length' },
  'an empty proxy_from': { lines: [...CAT, 'proxy_protocol = v1', 'proxy_from = '], line: 5, code: 'bad_value', says: 'proxy_from needs at least one address' },
  'a zero proxy_timeout': { lines: [...CAT, 'proxy_protocol = v1', 'proxy_from = ::1', 'proxy_timeout = 0'], line: 6, code: 'bad_value', says: 'proxy_timeout must be a positive number of seconds' },
  'a proxy_timeout with a unit': { lines: [...CAT, 'proxy_protocol = v1', 'proxy_from = ::1', 'proxy_timeout = 5s'], line: 6, code: 'bad_value', says: 'proxy_timeout must be' },
  'udp': { lines: ['protocol = udp', 'port = 7', 'builtin = echo', 'proxy_protocol = v2', 'proxy_from = ::1'], line: 5, code: 'bad_combination', says: 'proxy_protocol is for tcp services' },
  'unix': { lines: ['protocol = unix', 'path = /run/x.sock', 'server = /bin/cat', 'proxy_protocol = v2', 'proxy_from = ::1'], line: 5, code: 'bad_combination', says: 'a unix socket has no balancer' },
  'a tcp wait program': { lines: [...CAT, 'wait = yes', 'proxy_protocol = v2', 'proxy_from = ::1'], line: 5, code: 'bad_combination', says: 'proxy_protocol needs wait = no' },
};

describe('proxy keys: refused at the key at fault', () => {
  for (const [name, c] of Object.entries(REFUSALS)) {
    test(name, () => {
      const r = section(c.lines);
      assert.equal(r.definition, null);
      assert.deepEqual(
        r.errors.map((e) => [e.line, e.code, e.message.includes(c.says)]),
        [[c.line, c.code, true]],
        JSON.stringify(r.errors),
      );
    });
  }
  test('accept_proxy and set_real_ip_from point at the keys', () => {
    const r = section([...CAT, 'accept_proxy = yes', 'set_real_ip_from = 10.0.0.1']);
    assert.equal(r.errors.length, 2);
    assert.match(r.errors[0]?.message ?? '', /proxy_protocol/);
    assert.match(r.errors[1]?.message ?? '', /proxy_from/);
  });
});

test('a change of the proxy keys is a settings change on reload, not a new socket', () => {
  const base = definition({ name: 'p', origin: { file: '/s/p.conf', line: 1 }, port: 7000, handler: { kind: 'server', program: '/bin/cat', argv: ['cat'] } });
  const withProxy = (proxy: ServiceDefinition['proxy']): ServiceDefinition => ({ ...base, proxy });
  const steps: ServiceDefinition['proxy'][] = [
    null,
    { version: 'v1', from: ['10.0.0.1'], timeout: 5 },
    { version: 'v2', from: ['10.0.0.1'], timeout: 5 },
    { version: 'v2', from: ['10.0.0.0/8'], timeout: 5 },
    { version: 'v2', from: ['10.0.0.0/8'], timeout: 1 },
    null,
  ];
  for (let i = 1; i < steps.length; i++) {
    const from = withProxy(steps[i - 1] ?? null);
    const to = withProxy(steps[i] ?? null);
    const plan = planReload(new Map([['p', from]]), { files: [{ file: '/s/p.conf', services: [to], errors: [], warnings: [] }], fatal: null });
    assert.deepEqual(plan.change.map((c) => c.rebind), [false], `step ${i}`);
    assert.deepEqual([plan.add.length, plan.remove.length, plan.unchanged.length], [0, 0, 0]);
  }
});
