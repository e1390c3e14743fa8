import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configError } from '../src/errors.js';
import type { ServiceDefinition } from '../src/config/types.js';
import type { FileResult } from '../src/config/file.js';
import type { LoadResult } from '../src/config/load.js';
import { planReload, sameDefinition, type ReloadPlan } from '../src/config/plan.js';
import { definition } from './helpers/config.js';

function def(name: string, file: string, line: number, more: Partial<ServiceDefinition> = {}): ServiceDefinition {
  return definition({ name, origin: { file, line }, port: 7000 + line, handler: { kind: 'server', program: `/usr/bin/${name}`, argv: [name] }, ...more });
}

const active = (...defs: ServiceDefinition[]): Map<string, ServiceDefinition> => new Map(defs.map((d) => [d.name, d]));

const file = (name: string, services: ServiceDefinition[], errors = 0): FileResult => ({
  file: name,
  services,
  errors: Array.from({ length: errors }, (_, i) => configError('bad_value', name, 100 + i, null, 'broken')),
  warnings: [],
});

const loaded = (...files: FileResult[]): LoadResult => ({ files, fatal: null });

/** What runs once the plan is applied, by name. */
function after(p: ReloadPlan): Map<string, ServiceDefinition> {
  return new Map([...p.unchanged, ...p.add, ...p.change.map((c) => c.to)].map((d) => [d.name, d]));
}

/** The plan as names, for short assertions. */
function names(p: ReloadPlan) {
  return {
    add: p.add.map((d) => d.name),
    change: p.change.map((c) => `${c.to.name}${c.rebind ? ' (rebind)' : ''}`),
    remove: p.remove.map((d) => d.name),
    unchanged: p.unchanged.map((d) => d.name),
    next: [...after(p).keys()].sort(),
  };
}

test('first load: everything is added', () => {
  const a = def('a', 'a.conf', 1);
  const b = def('b', 'b.conf', 2);
  const p = planReload(new Map(), loaded(file('a.conf', [a]), file('b.conf', [b])));
  assert.deepEqual(names(p), { add: ['a', 'b'], change: [], remove: [], unchanged: [], next: ['a', 'b'] });
  assert.deepEqual(p.errors, []);
  assert.equal(after(p).get('a'), a);
});

test('same load again: everything is unchanged, even when sections moved lines or files', () => {
  const cur = active(def('a', 'a.conf', 1), def('b', 'a.conf', 5));
  const moved = def('a', 'a.conf', 9, { port: 7001 });
  const renamed = def('b', 'z.conf', 1, { port: 7005 });
  const p = planReload(cur, loaded(file('a.conf', [moved]), file('z.conf', [renamed])));
  assert.deepEqual(names(p), { add: [], change: [], remove: [], unchanged: ['a', 'b'], next: ['a', 'b'] });
  // the plan carries the new origin, so the next reload knows where the service lives.
  assert.deepEqual(after(p).get('b')?.origin, { file: 'z.conf', line: 1 });
});

test('changed settings are a change; a changed address is a rebind', () => {
  const cur = active(def('a', 'a.conf', 1), def('b', 'a.conf', 2), def('c', 'a.conf', 3), def('d', 'a.conf', 4));
  const p = planReload(
    cur,
    loaded(
      file('a.conf', [
        def('a', 'a.conf', 1, { maxChildren: 5 }),
        def('b', 'a.conf', 2, { port: 9999 }),
        def('c', 'a.conf', 3, { bind: '127.0.0.1' }),
        def('d', 'a.conf', 4, { handler: { kind: 'server', program: '/usr/bin/d', argv: ['d', '-v'] } }),
      ]),
    ),
  );
  assert.deepEqual(names(p), {
    add: [],
    change: ['a', 'b (rebind)', 'c (rebind)', 'd'],
    remove: [],
    unchanged: [],
    next: ['a', 'b', 'c', 'd'],
  });
  assert.equal(p.change[0]?.from, cur.get('a'));
  assert.equal(p.change[0]?.to.maxChildren, 5);
});

test('a protocol or path change is a rebind', () => {
  const tcp = def('a', 'a.conf', 1);
  const p = planReload(active(tcp), loaded(file('a.conf', [def('a', 'a.conf', 1, { protocol: 'tcp4' })])));
  assert.equal(p.change[0]?.rebind, true);
  const unix = def('u', 'a.conf', 1, { protocol: 'unix', port: null, path: '/run/a' });
  const q = planReload(active(unix), loaded(file('a.conf', [{ ...unix, path: '/run/b' }])));
  assert.equal(q.change[0]?.rebind, true);
});

test('a section deleted from a clean file, or a deleted file, is removed', () => {
  const cur = active(def('a', 'a.conf', 1), def('b', 'a.conf', 2), def('c', 'gone.conf', 1));
  const p = planReload(cur, loaded(file('a.conf', [def('a', 'a.conf', 1)])));
  assert.deepEqual(names(p), { add: [], change: [], remove: ['b', 'c'], unchanged: ['a'], next: ['a'] });
});

test('disabled services are not active: disabling removes, re-enabling adds', () => {
  const a = def('a', 'a.conf', 1);
  const off = planReload(active(a), loaded(file('a.conf', [{ ...a, disabled: true }])));
  assert.deepEqual(names(off), { add: [], change: [], remove: ['a'], unchanged: [], next: [] });
  const on = planReload(new Map(), loaded(file('a.conf', [a, def('b', 'a.conf', 2, { disabled: true })])));
  assert.deepEqual(names(on), { add: ['a'], change: [], remove: [], unchanged: [], next: ['a'] });
});

test('a file with errors keeps what it runs exactly as it is, and adds and changes nothing', () => {
  const a = def('a', 'a.conf', 1);
  const b = def('b', 'a.conf', 2);
  const c = def('c', 'c.conf', 1, { port: 7100 });
  const cur = active(a, b, c);
  const p = planReload(
    cur,
    loaded(
      // a changed, b gone, new added, all in a file that also has an error
      file('a.conf', [def('a', 'a.conf', 1, { maxChildren: 1 }), def('new', 'a.conf', 3)], 1),
      file('c.conf', [{ ...c, queue: 0 }]),
    ),
  );
  assert.deepEqual(names(p), { add: [], change: ['c'], remove: [], unchanged: ['a', 'b'], next: ['a', 'b', 'c'] });
  assert.equal(after(p).get('a'), a);
  assert.equal(after(p).get('b'), b);
  assert.deepEqual(p.errors.map((e) => [e.file, e.line]), [['a.conf', 100]]);
});

test('a new file with errors adds nothing', () => {
  const a = def('a', 'a.conf', 1);
  const p = planReload(active(a), loaded(file('a.conf', [a]), file('new.conf', [def('n', 'new.conf', 1)], 2)));
  assert.deepEqual(names(p), { add: [], change: [], remove: [], unchanged: ['a'], next: ['a'] });
  assert.equal(p.errors.length, 2);
});

test('a clean file that clashes with what a broken file keeps is in error too, and keeps its own', () => {
  const git = def('git', 'z.conf', 1, { port: 9418 });
  const web = def('web', 'a.conf', 1, { port: 80 });
  // z.conf is broken and keeps git on 9418; a.conf now moves web onto 9418.
  const p = planReload(
    active(git, web),
    loaded(file('a.conf', [def('web', 'a.conf', 1, { port: 9418 })]), file('z.conf', [], 1)),
  );
  assert.deepEqual(names(p), { add: [], change: [], remove: [], unchanged: ['git', 'web'], next: ['git', 'web'] });
  assert.equal(after(p).get('web'), web);
  const clash = p.errors.find((e) => e.code === 'conflict');
  assert.equal(clash?.file, 'a.conf');
  assert.equal(clash?.service, 'web');
  assert.match(clash?.message ?? '', /listen address \*:9418\/tcp is still held by \[git\] \(\*:9418\/tcp\), kept as it was because z\.conf has errors/);
});

test('a service moved out of a broken file into a clean one waits for the broken file to be fixed', () => {
  const git = def('git', 'old.conf', 1);
  const p = planReload(
    active(git),
    loaded(file('new.conf', [def('git', 'new.conf', 1), def('other', 'new.conf', 5)]), file('old.conf', [], 1)),
  );
  assert.deepEqual(names(p), { add: [], change: [], remove: [], unchanged: ['git'], next: ['git'] });
  assert.match(p.errors.find((e) => e.code === 'conflict')?.message ?? '', /service name 'git' is still held by \[git\]/);
});

test('a fatal load changes nothing', () => {
  const cur = active(def('a', 'a.conf', 1), def('b', 'b.conf', 1));
  const fatal = configError('unreadable', '/etc/superd/services.d', 0, null, 'cannot read services dir');
  const p = planReload(cur, { files: [], fatal });
  assert.deepEqual(names(p), { add: [], change: [], remove: [], unchanged: ['a', 'b'], next: ['a', 'b'] });
  assert.deepEqual(p.errors, [fatal]);
  assert.deepEqual([...cur.keys()], ['a', 'b'], 'the current set itself is left as it was');
});

test('sameDefinition ignores origin and nothing else', () => {
  const a = def('a', 'a.conf', 1);
  assert.equal(sameDefinition(a, { ...a, origin: { file: 'b.conf', line: 40 } }), true);
  assert.equal(sameDefinition(a, structuredClone(a)), true);
  assert.equal(sameDefinition(a, { ...a, env: ['A=1'] }), false);
  assert.equal(sameDefinition({ ...a, env: ['A=1', 'B=2'] }, { ...a, env: ['B=2', 'A=1'] }), false);
  assert.equal(sameDefinition(a, { ...a, credentials: { uid: 1, gid: 1, label: 'daemon(1)' } }), false);
  assert.equal(sameDefinition(a, { ...a, onlyFrom: [] }), false);
  assert.equal(sameDefinition(a, { ...a, timeout: 0.5 }), false);
});
