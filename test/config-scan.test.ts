import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scanIni, unquote } from '../src/config/scan.js';

const FILE = '/etc/superd/services.d/x.conf';

function only<T>(items: T[]): T {
  assert.equal(items.length, 1, `expected exactly one, got ${JSON.stringify(items)}`);
  return items[0] as T;
}

test('sections and entries keep their line numbers; blanks and comments are skipped', () => {
  const r = scanIni(FILE, [
    '# a comment',
    '; another',
    '',
    '[git]',
    '  port   =   9418  ',
    '   # indented comment',
    'server=/usr/bin/git',
    '[echo-2_b]',
    'builtin = echo',
  ].join('\n'));
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.sections, [
    { name: 'git', line: 4, entries: [{ key: 'port', value: '9418', line: 5 }, { key: 'server', value: '/usr/bin/git', line: 7 }] },
    { name: 'echo-2_b', line: 8, entries: [{ key: 'builtin', value: 'echo', line: 9 }] },
  ]);
});

test('CRLF line ends and a byte order mark are fine', () => {
  const r = scanIni(FILE, '\uFEFF[a]\r\nport = 1\r\n\r\nserver = /x\r\n');
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.sections[0]?.entries.map((e) => [e.key, e.value, e.line]), [['port', '1', 2], ['server', '/x', 4]]);
});

test('values are raw: no inline comments stripped, quotes kept, only the first = splits', () => {
  const r = scanIni(FILE, `[a]\nargs = --color=#fff "a b" ; not a comment\nenv = A='x y'`);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.sections[0]?.entries.map((e) => e.value), [`--color=#fff "a b" ; not a comment`, `A='x y'`]);
});

test('an empty value is kept for validation to judge', () => {
  const r = scanIni(FILE, '[a]\nargs =');
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.sections[0]?.entries, [{ key: 'args', value: '', line: 2 }]);
});

test('a repeated section is an error at the second, naming the first line', () => {
  const r = scanIni(FILE, '[a]\nport = 1\n\n[a]\nport = 2\nbogus line');
  const e = only(r.errors);
  assert.equal(e.code, 'duplicate_section');
  assert.equal(e.file, FILE);
  assert.equal(e.line, 4);
  assert.equal(e.service, 'a');
  assert.match(e.message, /section \[a\] is repeated \(first defined at line 1\)/);
  // The repeated section's body is not merged into the first one.
  assert.deepEqual(r.sections.map((s) => [s.name, s.entries.length]), [['a', 1]]);
});

test('a repeated key is an error at the second, naming the first line', () => {
  const r = scanIni(FILE, '[a]\nport = 1\nserver = /x\nport = 2');
  const e = only(r.errors);
  assert.deepEqual([e.code, e.line, e.service], ['duplicate_key', 4, 'a']);
  assert.match(e.message, /key 'port' is repeated \(first set at line 2\)/);
  assert.equal(r.sections[0]?.entries.find((x) => x.key === 'port')?.value, '1');
});

test('the same key in two sections is fine', () => {
  assert.deepEqual(scanIni(FILE, '[a]\nport = 1\n[b]\nport = 2').errors, []);
});

test('a line that is not key = value is an error (ini would make it key = true)', () => {
  const e = only(scanIni(FILE, '[a]\nport = 1\nnowait').errors);
  assert.deepEqual([e.code, e.file, e.line, e.service], ['syntax', FILE, 3, 'a']);
  assert.match(e.message, /expected 'key = value' or '\[section\]', got 'nowait'/);
});

test('a line with no key before = is an error', () => {
  const e = only(scanIni(FILE, '[a]\n= 5').errors);
  assert.deepEqual([e.code, e.line], ['syntax', 2]);
  assert.match(e.message, /no key before '='/);
});

test('key = value before any section is an error', () => {
  const r = scanIni(FILE, 'port = 1\n[a]\nport = 2');
  const e = only(r.errors);
  assert.deepEqual([e.code, e.line, e.service], ['syntax', 1, null]);
  assert.match(e.message, /'port = \.\.\.' comes before any \[section\]/);
  assert.equal(r.sections[0]?.entries.length, 1);
});

test('a dotted or otherwise bad section name is an error (ini would nest it)', () => {
  for (const name of ['a.b', 'has space', 'ü', '']) {
    const r = scanIni(FILE, `[${name}]\nport = 1\nstray`);
    const e = only(r.errors);
    assert.deepEqual([e.code, e.line], ['syntax', 1], name);
    assert.match(e.message, /use only letters, digits, '-' and '_'/);
    // Its keys are dropped without follow-on errors.
    assert.deepEqual(r.sections, []);
  }
});

test('a header without ] or with text after it is an error', () => {
  const open = only(scanIni(FILE, '[a\nport = 1').errors);
  assert.deepEqual([open.code, open.line], ['syntax', 1]);
  assert.match(open.message, /no closing '\]'/);
  const trailing = only(scanIni(FILE, '[a] # web').errors);
  assert.deepEqual([trailing.code, trailing.line, trailing.service], ['syntax', 1, 'a']);
  assert.match(trailing.message, /comments must be on a line of their own/);
});

test('spaces inside the brackets are trimmed', () => {
  assert.equal(scanIni(FILE, '[ git ]').sections[0]?.name, 'git');
});

test('unquote removes INI quotes around a whole scalar value and nothing else', () => {
  assert.equal(unquote('"/usr/bin/x"'), '/usr/bin/x');
  assert.equal(unquote('"a\\"b"'), 'a"b');
  assert.equal(unquote("'git'"), 'git');
  assert.equal(unquote(`'"x"'`), '"x"');
  assert.equal(unquote('a # b ; c'), 'a # b ; c');
  assert.equal(unquote('"a" b'), '"a" b');
  assert.equal(unquote('"'), '"');
});
