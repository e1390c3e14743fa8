// SPEC §1 `superd check` and §2: every problem in a services dir is reported
// on stderr as `FILE:LINE: [service] message`, valid services on stdout, and
// the exit status says whether there was an error. Nothing here binds a port:
// the port numbers in these files are never listened on.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runSuperd, tempDir, type CliResult } from './helpers/daemon.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface Checked extends CliResult {
  dir: string;
  path(file: string): string;
}

/** Writes `files` (mode 0644) into a fresh services dir and runs `superd check -d DIR`. */
async function check(files: Record<string, string>, setup?: (dir: string) => Promise<void>): Promise<Checked> {
  const base = await tempDir('superd-check-');
  dirs.push(base);
  const dir = join(base, 'services.d');
  await mkdir(dir, { mode: 0o755 });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text, { mode: 0o644 });
  await setup?.(dir);
  const r = await runSuperd(['check', '-d', dir], { timeoutMs: 10000 });
  assert.equal(r.timedOut, false, 'superd check finished by itself');
  return { ...r, dir, path: (file) => join(dir, file) };
}

/**
 * The stderr line(s) for a problem at FILE:LINE (one of `lines`) in [service].
 * Fails, showing stderr, when there is none.
 */
function problem(r: Checked, file: string, lines: number | number[], service: string | null): string {
  const want = Array.isArray(lines) ? lines : [lines];
  const prefixes = want.map((n) => `${r.path(file)}:${n}: ${service === null ? '' : `[${service}] `}`);
  const found = r.stderr.split('\n').filter((l) => prefixes.some((p) => l.startsWith(p)));
  assert.ok(found.length > 0, `expected a line starting with ${prefixes.map((p) => JSON.stringify(p)).join(' or ')} on stderr:\n${r.stderr}`);
  return found.join('\n');
}

function failed(r: Checked): void {
  assert.equal(r.code, 1, `exit status 1 for a dir with errors; stderr:\n${r.stderr}`);
}

const ini = (...lines: string[]): string => `${lines.join('\n')}\n`;

describe('superd check: one test per kind of error', { timeout: 300000 }, () => {
  test('unknown key, with did-you-mean', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat', 'instnaces = 4') });
    failed(r);
    const line = problem(r, 'a.conf', 4, 'x');
    assert.ok(line.includes("unknown key 'instnaces'"), line);
    assert.ok(line.includes('max_children'), `suggests max_children: ${line}`);
  });

  test('a line that is not key = value', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat', 'just some words') });
    failed(r);
    assert.ok(problem(r, 'a.conf', 4, 'x').includes('just some words'));
  });

  test('a repeated key', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat', 'port = 7002') });
    failed(r);
    const line = problem(r, 'a.conf', 4, 'x');
    assert.match(line, /port/);
    assert.match(line, /repeat|duplicate|twice|already/i);
  });

  test('a repeated section', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat', '', '[x]', 'port = 7002', 'server = /bin/cat') });
    failed(r);
    assert.match(problem(r, 'a.conf', 5, 'x'), /repeat|duplicate|twice|already/i);
  });

  test('a duplicate service name across two files: the later file is in error', async () => {
    const r = await check({
      'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat'),
      'b.conf': ini('# the same name again', '[x]', 'port = 7002', 'server = /bin/cat'),
    });
    failed(r);
    const line = problem(r, 'b.conf', 2, 'x');
    assert.ok(line.includes(r.path('a.conf')) || line.includes('a.conf'), `names where x was first defined: ${line}`);
    assert.ok(!r.stderr.split('\n').some((l) => l.startsWith(`${r.path('a.conf')}:`)), `a.conf itself is fine:\n${r.stderr}`);
    assert.match(r.stdout, /^x .*7001/m, 'the first definition is valid');
  });

  test('a duplicate listen address across services', async () => {
    const r = await check({
      'a.conf': ini('[x]', 'port = 7001', 'bind = 127.0.0.1', 'server = /bin/cat'),
      // No bind: all addresses, which includes 127.0.0.1:7001.
      'b.conf': ini('[y]', 'port = 7001', 'server = /bin/cat'),
    });
    failed(r);
    const line = problem(r, 'b.conf', [1, 2], 'y');
    assert.match(line, /7001/);
    assert.match(line, /\bx\b/, `names the service that has the address: ${line}`);
    assert.match(r.stdout, /^x /m);
    assert.doesNotMatch(r.stdout, /^y /m);
  });

  test('a duplicate listen address within one file', async () => {
    const r = await check({
      'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat', '[y]', 'port = 7001', 'server = /bin/cat'),
    });
    failed(r);
    assert.match(problem(r, 'a.conf', [4, 5], 'y'), /\bx\b/);
  });

  test('port out of range', async () => {
    const r = await check({
      'a.conf': ini('[x]', 'port = 70000', 'server = /bin/cat'),
      'b.conf': ini('[y]', 'port = 0', 'server = /bin/cat'),
    });
    failed(r);
    assert.match(problem(r, 'a.conf', 2, 'x'), /70000/);
    assert.match(problem(r, 'b.conf', 2, 'y'), /port/);
  });

  test('port from /etc/services: ssh is 22, nosuchservice is an error', async () => {
    const ok = await check({ 'a.conf': ini('[x]', 'port = ssh', 'bind = 127.0.0.1', 'server = /bin/cat') });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^x .*127\.0\.0\.1:22\b/m);
    const bad = await check({ 'a.conf': ini('[x]', 'port = nosuchservice', 'server = /bin/cat') });
    failed(bad);
    assert.match(problem(bad, 'a.conf', 2, 'x'), /nosuchservice/);
  });

  test('a bad boolean', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat', 'disabled = maybe') });
    failed(r);
    const line = problem(r, 'a.conf', 4, 'x');
    assert.match(line, /maybe/);
    assert.match(line, /yes|no/);
  });

  test('bad integers: max_children = 0, queue = -1', async () => {
    const r = await check({
      'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat', 'max_children = 0', '', '[y]', 'port = 7002', 'server = /bin/cat', 'queue = -1'),
    });
    failed(r);
    assert.match(problem(r, 'a.conf', 4, 'x'), /max_children/);
    assert.match(problem(r, 'a.conf', 9, 'y'), /queue/);
  });

  test('both server and builtin', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat', 'builtin = echo') });
    failed(r);
    const line = problem(r, 'a.conf', [3, 4], 'x');
    assert.match(line, /server/);
    assert.match(line, /builtin/);
  });

  test('neither server nor builtin', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001') });
    failed(r);
    const line = problem(r, 'a.conf', 1, 'x');
    assert.match(line, /server/);
    assert.match(line, /builtin/);
  });

  test('a relative server path', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = bin/cat') });
    failed(r);
    assert.match(problem(r, 'a.conf', 3, 'x'), /absolute/);
  });

  test('a server program that does not exist', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = /nonexistent/superd-test-program') });
    failed(r);
    assert.match(problem(r, 'a.conf', 3, 'x'), /server '\/nonexistent\/superd-test-program' does not exist/);
    assert.doesNotMatch(r.stdout, /^x /m, 'not listed as valid');
  });

  test('an unknown user', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat', 'user = nosuchuser_zz') });
    failed(r);
    assert.match(problem(r, 'a.conf', 4, 'x'), /nosuchuser_zz/);
  });

  test('a bad bind address', async () => {
    const r = await check({
      'a.conf': ini('[x]', 'port = 7001', 'bind = 300.1.2.3', 'server = /bin/cat', '[y]', 'port = 7002', 'bind = localhost', 'server = /bin/cat'),
    });
    failed(r);
    assert.match(problem(r, 'a.conf', 3, 'x'), /300\.1\.2\.3/);
    assert.match(problem(r, 'a.conf', 7, 'y'), /localhost/);
  });

  test('bind family does not match tcp4 / tcp6', async () => {
    const r = await check({
      'a.conf': ini('[x]', 'protocol = tcp4', 'port = 7001', 'bind = ::1', 'server = /bin/cat', '', '[y]', 'protocol = tcp6', 'port = 7002', 'bind = 127.0.0.1', 'server = /bin/cat'),
    });
    failed(r);
    assert.match(problem(r, 'a.conf', 4, 'x'), /::1/);
    assert.match(problem(r, 'a.conf', 10, 'y'), /127\.0\.0\.1/);
  });

  test('socket_mode on a tcp service', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat', 'socket_mode = 0660') });
    failed(r);
    const line = problem(r, 'a.conf', 4, 'x');
    assert.match(line, /socket_mode/);
    assert.match(line, /unix/);
  });

  test('udp with a server and wait = no: the error says why', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'protocol = udp', 'port = 7001', 'server = /bin/cat', 'wait = no') });
    failed(r);
    const line = problem(r, 'a.conf', [5, 2], 'x');
    assert.match(line, /wait\s*=\s*yes/);
    assert.match(line, /datagram/, `explains that a handler would start per datagram: ${line}`);
  });

  test('args with an unterminated quote', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = /bin/sh', `args = -c 'echo hi`) });
    failed(r);
    const line = problem(r, 'a.conf', 4, 'x');
    assert.match(line, /args/);
    assert.match(line, /quote|unterminated|unmatched|unclosed/i);
  });

  test('a bad env word', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat', 'env = GOOD=1 1BAD=x') });
    failed(r);
    assert.match(problem(r, 'a.conf', 4, 'x'), /1BAD/);
  });

  test('a bad only_from CIDR block', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat', 'only_from = 10.0.0.0/33') });
    failed(r);
    assert.match(problem(r, 'a.conf', 4, 'x'), /10\.0\.0\.0\/33/);
  });

  const noSource: [string, string[], number, RegExp][] = [
    ['only_from', ['[x]', 'protocol = unix', 'path = /run/superd-test-x.sock', 'server = /bin/cat', 'only_from = 127.0.0.1'], 5, /unix socket's clients have none/],
    ['max_per_source', ['[x]', 'port = 7001', 'server = /bin/cat', 'wait = yes', 'max_per_source = 4'], 5, /tcp wait service: its handler accepts the connections itself/],
  ];
  for (const [key, lines, at, why] of noSource) {
    test(`a per-source key where superd sees no source: ${key} (${lines[1]})`, async () => {
      const r = await check({ 'a.conf': ini(...lines) });
      failed(r);
      const line = problem(r, 'a.conf', at, 'x');
      assert.match(line, why);
      assert.ok(line.includes(key), line);
      assert.doesNotMatch(r.stdout, /^x /m);
    });
  }

  const asRoot = process.getuid?.() === 0;
  test('a group/other-writable file is refused (as root), with how to fix it; a sibling still loads', { skip: !asRoot && 'needs root: superd checks who owns and may write its files only when it runs as root' }, async () => {
    const r = await check(
      {
        'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat'),
        'b.conf': ini('[y]', 'port = 7002', 'server = /bin/cat'),
      },
      (dir) => chmod(join(dir, 'a.conf'), 0o666),
    );
    failed(r);
    const line = r.stderr.split('\n').find((l) => l.startsWith(`${r.path('a.conf')}:`));
    assert.ok(line !== undefined, `a line for a.conf:\n${r.stderr}`);
    assert.match(line, /writable/);
    assert.match(line, /chmod/, `says how to fix it: ${line}`);
    assert.doesNotMatch(r.stdout, /^x /m, 'the unsafe file is not read');
    assert.match(r.stdout, /^y .*7002/m, 'the sibling still loads');
  });

  test('a file not owned by root is refused (as root), with how to fix it', { skip: !asRoot && 'needs root: superd checks who owns and may write its files only when it runs as root' }, async () => {
    const r = await check(
      { 'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat'), 'b.conf': ini('[y]', 'port = 7002', 'server = /bin/cat') },
      (dir) => chown(join(dir, 'a.conf'), 65534, 65534),
    );
    failed(r);
    const line = r.stderr.split('\n').find((l) => l.startsWith(`${r.path('a.conf')}:`));
    assert.ok(line !== undefined, `a line for a.conf:\n${r.stderr}`);
    assert.match(line, /chown/);
    assert.match(r.stdout, /^y /m);
  });

  test('several problems in several files: each one reported', async () => {
    const r = await check({
      'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat', 'instnaces = 4', '[y]', 'port = 99999', 'server = /bin/cat'),
      'b.conf': ini('[z]', 'port = 7003', 'server = /bin/cat', 'disabled = maybe'),
    });
    failed(r);
    problem(r, 'a.conf', 4, 'x');
    problem(r, 'a.conf', 6, 'y');
    problem(r, 'b.conf', 4, 'z');
  });

  test('a missing services dir: exit 1, message names the dir', async () => {
    const base = await tempDir('superd-check-');
    dirs.push(base);
    const missing = join(base, 'missing.d');
    const r = await runSuperd(['check', '-d', missing]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(missing), r.stderr);
  });
});

describe('superd check: valid and ignored files', { timeout: 300000 }, () => {
  test('valid services: one line each on stdout (name, address, mode, handler), exit 0, nothing on stderr', async () => {
    const r = await check({
      'a.conf': ini('# comment', '; another comment', '[alpha]', 'port = 7001', 'bind = 127.0.0.1', 'server = /bin/cat'),
      'b.conf': ini('[beta]', 'protocol = tcp6', 'port = 7002', 'bind = ::1', 'server = /bin/echo', 'args = "hello world"', 'max_children = 3'),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2, r.stdout);
    const alpha = lines.find((l) => l.startsWith('alpha'));
    const beta = lines.find((l) => l.startsWith('beta'));
    assert.ok(alpha !== undefined && beta !== undefined, r.stdout);
    assert.match(alpha, /127\.0\.0\.1:7001/);
    assert.match(alpha, /nowait/);
    assert.match(alpha, /\/bin\/cat/);
    assert.match(beta, /::1\]?:7002/);
    assert.match(beta, /nowait/);
    assert.match(beta, /\/bin\/echo/);
  });

  test('ignored files are not read even when broken', async () => {
    const broken = ini('[bad', 'this is not ini', 'port = -5');
    const r = await check({
      'ok.conf': ini('[ok]', 'port = 7001', 'server = /bin/cat'),
      'x.conf~': broken,
      '.hidden.conf': broken,
      README: broken,
      'a.conf.dpkg-old': broken,
      'notes.txt': broken,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout.trimEnd().split('\n').length, 1, r.stdout);
    assert.match(r.stdout, /^ok /);
  });
});

describe('superd check: what the daemon will and will not do (issue 15)', { timeout: 300000 }, () => {
  test('the valid sections of a file with errors are listed as not loaded; a clean file\'s are not', async () => {
    const r = await check({
      'a.conf': ini('[good]', 'port = 7001', 'server = /bin/cat', '', '[bad]', 'port = 7002', 'server = /nonexistent/superd-x'),
      'b.conf': ini('[fine]', 'port = 7003', 'server = /bin/cat'),
    });
    failed(r);
    assert.match(r.stdout, new RegExp(`^good .* \\(not loaded: ${r.path('a.conf').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} has errors\\)$`, 'm'));
    assert.match(r.stdout, /^fine .*\/bin\/cat( user=\S+.*)?$/m);
    assert.doesNotMatch(r.stdout, /^fine .*not loaded/m);
  });

  test('superd check FILE checks that file alone', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat'), 'b.conf': ini('[y]', 'port = 70001', 'server = /bin/cat') });
    failed(r);
    const one = await runSuperd(['check', r.path('a.conf')], { timeoutMs: 10000 });
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^x /m);
    assert.doesNotMatch(one.stdout, /^y /m);
    const other = await runSuperd(['check', r.path('b.conf')], { timeoutMs: 10000 });
    assert.equal(other.code, 1);
    assert.match(other.stderr, new RegExp(`^${r.path('b.conf')}:2: \\[y\\]`, 'm'));
  });

  test('a program service that names no user says it runs as root (when check runs as root)', { skip: process.getuid?.() === 0 ? false : 'needs root: a program service without user runs as the user superd runs as' }, async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat', '', '[y]', 'port = 7002', 'server = /bin/cat', 'user = nobody', '', '[z]', 'port = 7003', 'builtin = echo') });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^x .* user=root \(no user key\)$/m);
    assert.match(r.stdout, /^y .* user=nobody\(65534\)$/m);
    assert.doesNotMatch(r.stdout, /^z .*user=/m, 'a builtin runs no program');
  });

  test('an xinetd file in the services dir is one error that names superd convert', async () => {
    const r = await check({ 'echo.conf': ini('service echo', '{', '  socket_type = stream', '  wait = no', '  type = INTERNAL', '}') });
    failed(r);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 2, r.stderr);
    assert.match(problem(r, 'echo.conf', 1, null), /this is an xinetd file, not a superd service file: .*superd convert/);
  });
});

describe('superd check: warnings (SPEC §1, §2)', { timeout: 300000 }, () => {
  test('a value with a trailing comment: FILE:LINE: [service] warning: …, exit 0, the service still listed', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat', 'args = --verbose # debug') });
    assert.equal(r.code, 0, `warnings do not change the exit status; stderr:\n${r.stderr}`);
    const line = problem(r, 'a.conf', 4, 'x');
    assert.match(line, /^\S+:4: \[x\] warning: '# debug' is part of the value of args/);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stdout, /^x \*:7001\/tcp nowait \/bin\/cat --verbose # debug( user=root \(no user key\))?$/m);
  });

  test('warnings sit among the errors in line order, and only errors are counted', async () => {
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001 ; echo', 'server = /bin/cat', 'args = -v ; x') });
    failed(r);
    const lines = r.stderr.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /:2: \[x\] port must be 1-65535/);
    assert.match(lines[1] ?? '', /:2: \[x\] warning: '; echo' is part of the value of port/);
    assert.match(lines[2] ?? '', /:4: \[x\] warning: '; x'/);
    assert.match(lines[3] ?? '', /^1 error in /);
  });

  test('a long unknown key is quoted cut, and check answers at once', async () => {
    const key = 'k'.repeat(900 * 1024);
    const r = await check({ 'a.conf': ini('[x]', 'port = 7001', 'server = /bin/cat', `${key} = 1`) });
    failed(r);
    assert.match(problem(r, 'a.conf', 4, 'x'), /unknown key 'k{64}…'/);
    assert.ok(r.stderr.length < 2000, `${r.stderr.length} bytes on stderr`);
  });
});
