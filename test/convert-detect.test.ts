// looksForeign (src/config/foreign.ts): the check `superd check` will use to
// say "this is an xinetd (or inetd.conf) file: run superd convert" once,
// instead of one error per line. It must never flag a superd file, valid or
// not, and must see xinetd and inetd.conf files for what they are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { looksForeign } from '../src/config/foreign.js';
import { detectSyntax } from '../src/convert/detect.js';
import { ROOT } from './helpers/daemon.js';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'convert');
const lines = (...l: string[]): string => `${l.join('\n')}\n`;

test('xinetd files: the line of the first service, defaults or include', async () => {
  assert.deepEqual(looksForeign(lines('# comment', '', 'service git', '{', '\tport = 9418', '}')), { syntax: 'xinetd', line: 3 });
  assert.deepEqual(looksForeign(lines('service git {', 'port = 9418', '}')), { syntax: 'xinetd', line: 1 });
  assert.deepEqual(looksForeign(lines('defaults', '{', '}')), { syntax: 'xinetd', line: 1 });
  assert.deepEqual(looksForeign(lines('includedir /etc/xinetd.d')), { syntax: 'xinetd', line: 1 });
  assert.deepEqual(looksForeign(await readFile(join(FIXTURES, 'xinetd', 'xinetd.conf'), 'utf8')), { syntax: 'xinetd', line: 3 });
  assert.deepEqual(looksForeign(await readFile(join(FIXTURES, 'xinetd', 'xinetd.d', 'git'), 'utf8')), { syntax: 'xinetd', line: 2 });
});

test("Debian's /etc/xinetd.d files are xinetd", { skip: !existsSync('/etc/xinetd.d/echo') && 'xinetd is not installed' }, async () => {
  for (const name of await readdir('/etc/xinetd.d')) {
    const found = looksForeign(await readFile(join('/etc/xinetd.d', name), 'utf8'));
    assert.equal(found?.syntax, 'xinetd', `/etc/xinetd.d/${name}`);
  }
});

test('inetd.conf files: the line of the first entry', async () => {
  assert.deepEqual(looksForeign(await readFile(join(FIXTURES, 'inetd.conf'), 'utf8')), { syntax: 'inetd', line: 11 });
  assert.deepEqual(looksForeign(lines('git stream tcp nowait nobody /usr/bin/git git daemon --inetd --base-path=/srv/git')), { syntax: 'inetd', line: 1 });
  assert.deepEqual(looksForeign(lines('127.0.0.1:', 'ident stream tcp6 wait.40 nobody:nogroup /usr/sbin/identd identd')), { syntax: 'inetd', line: 2 });
  assert.deepEqual(looksForeign(lines('ftp stream tcp nowait/10/20/3 root /usr/libexec/ftpd ftpd -l')), { syntax: 'inetd', line: 1 });
  assert.deepEqual(looksForeign(lines('echo dgram udp wait root internal')), { syntax: 'inetd', line: 1 });
});

test('superd files, valid or not, are never foreign', async () => {
  const samples = [
    '',
    lines('# only comments', '; and more'),
    lines('[git]', 'port = 9418', 'server = /usr/bin/git', 'args = daemon --inetd --base-path=/srv/git /srv/git'),
    lines('; a comment', '[echo]', 'builtin = echo', 'port = 7'),
    lines('\uFEFF[echo]\r', 'port=7\r', 'builtin=echo\r'),
    // Broken superd files are superd's to report, line by line.
    lines('[git]', 'service git', '{', '}'),
    lines('port = 9418', '[git]'),
    lines('[git', 'port = 9418'),
    // A value that looks like an inetd line, and comments that are one.
    lines('[x]', 'args = git stream tcp nowait nobody /usr/bin/git git', 'server = /bin/cat', 'port = 7'),
    lines('# echo stream tcp nowait root internal', '# service echo', '[x]', 'port = 7', 'builtin = echo'),
    // Junk is not foreign either: superd check reports it as it is.
    lines('hello world'),
    lines('git stream'),
  ];
  for (const text of samples) assert.equal(looksForeign(text), null, JSON.stringify(text));
  const dir = join(ROOT, 'services.d');
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.conf'))) {
    assert.equal(looksForeign(await readFile(join(dir, name), 'utf8')), null, `services.d/${name}`);
  }
});

test('detectSyntax: a superd file and an unknown one are errors with a line; comments only are nothing to convert', () => {
  const superd = detectSyntax('a.conf', lines('# x', '[echo]', 'builtin = echo'));
  assert.equal(superd.ok, false);
  if (!superd.ok) {
    assert.equal(superd.error.line, 2);
    assert.match(superd.error.message, /already a superd service file/);
  }
  const junk = detectSyntax('b', lines('', 'hello world'));
  assert.equal(junk.ok, false);
  if (!junk.ok) {
    assert.equal(junk.error.line, 2);
    assert.match(junk.error.message, /neither xinetd syntax .* nor inetd\.conf syntax/);
  }
  assert.deepEqual(detectSyntax('c', lines('#ftp stream tcp nowait root /usr/sbin/ftpd ftpd')), { ok: true, value: 'inetd' });
});
