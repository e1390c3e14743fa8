// `superd convert` on input it cannot take: xinetd files whose block
// structure is broken, malformed inetd.conf files, a missing source, a file
// already in superd's syntax. Each gives one error naming the file and the
// line, exit status 1, and nothing written; and -o never overwrites a file.
// What xinetd itself ignores or refuses in one service (an unknown
// attribute, a bad value, an include it cannot read) is no error: that
// service is converted as xinetd served it, or disabled, and the others as
// they are (test/convert-xinetd-real.test.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, runSuperd, scratchDirs, type CliResult } from './helpers/daemon.js';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'convert');
const BAD = join(FIXTURES, 'bad');

const freshDir = scratchDirs('superd-convert-');

async function convertCli(...args: string[]): Promise<CliResult> {
  const r = await runSuperd(['convert', ...args], { timeoutMs: 20000 });
  assert.equal(r.timedOut, false, 'superd convert finished by itself');
  return r;
}

/** Fails unless the run failed with a `FILE:LINE: …` error matching `message`, wrote nothing to stdout, and said so. */
function refused(r: CliResult, file: string, line: number, message: RegExp): void {
  assert.equal(r.code, 1, `exit status 1; stderr:\n${r.stderr}`);
  assert.equal(r.stdout, '', 'nothing on stdout');
  const first = r.stderr.split('\n')[0] ?? '';
  // Line 0 is the file as a whole: `FILE: message`.
  const where = line === 0 ? `${file}: ` : `${file}:${line}: `;
  assert.ok(first.startsWith(where), `the error starts with '${where}': ${first}`);
  assert.match(first, message);
  assert.match(r.stderr, /^superd convert: nothing was written$/m);
}

describe('malformed input: one error with file and line, nothing written', { timeout: 60000 }, () => {
  test('xinetd: a missing closing brace', async () => {
    const file = join(BAD, 'missing-brace');
    const out = join(await freshDir(), 'out');
    refused(await convertCli(file, '-o', out), file, 15, /'service next' inside the block of service broken opened at line 9: a '\}' is missing/);
    await assert.rejects(readdir(out), 'the -o directory was not even created');
  });

  test('xinetd: a block that never ends', async () => {
    const file = join(BAD, 'eof-in-block');
    refused(await convertCli(file), file, 1, /the block of service broken has no closing '\}'/);
  });

  test('xinetd: what breaks the block structure', async () => {
    const dir = await freshDir();
    const cases: [string, number, RegExp][] = [
      ['service a\n\tsocket_type = stream\n', 2, /expected '\{' after 'service a' at line 1/],
      ['service a\n{\n\tsocket_type = stream\n\twait = no\n\tserver = /bin/cat\n}\n}\n', 7, /'\}' outside of a service or defaults block/],
      ['service a\n{\n\tsocket_type = stream\n\tthis is no attribute\n}\n', 4, /expected 'attribute = value' or '\}' in the block of service a, got 'this is no attribute'/],
      ['service a\n{\n\tsocket_type = stream\n}\nport = 7\n', 5, /'port = 7' is outside of any block/],
      // xinetd stops reading the defaults there: what it then applies is not worth guessing.
      ['defaults\n{\n\tinstances=4\n}\n', 3, /xinetd needs a blank before the operator .* stops reading the defaults block at this line/],
    ];
    for (const [i, [text, line, message]] of cases.entries()) {
      const file = join(dir, `case${i}`);
      await writeFile(file, text);
      refused(await convertCli(file), file, line, message);
    }
  });

  test('xinetd: a value xinetd refuses in defaults, where xinetd exits over it', async () => {
    const dir = await freshDir();
    const file = join(dir, 'xinetd.conf');
    await writeFile(file, 'defaults\n{\n\tinstances = many\n}\n');
    refused(await convertCli(file), file, 3, /defaults: instances = many: Number of instances is invalid: many: xinetd refuses it and exits/);
  });

  test('xinetd: an error in one file of a directory writes none of the others', async () => {
    const src = join(await freshDir(), 'xinetd.d');
    await cp(join(FIXTURES, 'xinetd', 'xinetd.d'), src, { recursive: true });
    await cp(join(BAD, 'missing-brace'), join(src, 'zz-broken'));
    const out = join(await freshDir(), 'out');
    refused(await convertCli(src, '-o', out), join(src, 'zz-broken'), 15, /a '\}' is missing/);
    await assert.rejects(readdir(out));
  });

  test('inetd.conf: too few fields, a bad socket type, a bad wait field', async () => {
    const short = join(BAD, 'inetd-short');
    refused(await convertCli(short), short, 2, /an inetd\.conf entry has at least six fields .* this one has 3: 'ftp stream tcp'/);
    const dir = await freshDir();
    const cases: [string, number, RegExp][] = [
      ['echo stream tcp nowait root internal\nftp steam tcp nowait root /usr/sbin/ftpd ftpd\n', 2, /the second field must be a socket type .* got 'steam'/],
      ['echo stream tcp nowait root internal\nftp stream tcp sometimes root /usr/sbin/ftpd ftpd\n', 2, /the fourth field must be wait or nowait/],
    ];
    for (const [i, [text, line, message]] of cases.entries()) {
      const file = join(dir, `inetd${i}.conf`);
      await writeFile(file, text);
      refused(await convertCli(file), file, line, message);
    }
  });

  test('a source that does not exist, a superd file, and a file in neither syntax', async () => {
    const dir = await freshDir();
    refused(await convertCli(join(dir, 'nope')), join(dir, 'nope'), 0, /: cannot read: no such file or directory$/);
    const superd = join(dir, 'echo.conf');
    await writeFile(superd, '# mine\n[echo]\nport = 7\nbuiltin = echo\n');
    refused(await convertCli(superd), superd, 2, /already a superd service file/);
    const junk = join(dir, 'notes.txt');
    await writeFile(junk, 'hello world\n');
    refused(await convertCli(junk), junk, 1, /neither xinetd syntax .* nor inetd\.conf syntax/);
  });
});

describe('what xinetd ignores or refuses in one service: no error, the others converted', { timeout: 60000 }, () => {
  /** `superd convert` reading no hosts.allow or hosts.deny of this host. */
  async function convertOk(...args: string[]): Promise<CliResult> {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', SUPERD_HOSTS_ALLOW: '/nonexistent/hosts.allow', SUPERD_HOSTS_DENY: '/nonexistent/hosts.deny' };
    const r = await runSuperd(['convert', ...args], { timeoutMs: 20000, env });
    assert.equal(r.timedOut, false, 'superd convert finished by itself');
    assert.equal(r.code, 0, `exit status 0; stderr:\n${r.stderr}`);
    return r;
  }
  const good = 'service good\n{\n\ttype = UNLISTED\n\tsocket_type = stream\n\twait = no\n\tuser = root\n\tserver = /bin/cat\n\tport = 7000\n}\n';
  const bad = (lines: string): string => `service bad\n{\n\ttype = UNLISTED\n\tsocket_type = stream\n\tport = 7001\n${lines}}\n`;

  test('an unknown attribute is a comment with the suggestion, and the service is served as xinetd served it', async () => {
    const r = await convertOk(join(BAD, 'unknown-attribute'));
    assert.match(r.stdout, /^# xinetd: instnaces = 4 \(line 7\) — ignored, as xinetd ignores an attribute it does not know \("bad service attribute: instnaces"\) \(did you mean 'instances'\?\)$/m);
    assert.match(r.stdout, /^\[broken\]$/m);
    assert.doesNotMatch(r.stdout, /^max_children/m);
    // The rest of it is what xinetd would not have served either: no user, and a name not in /etc/services.
    assert.match(r.stdout, /^# disabled: it has no user, which xinetd requires of a program service/m);
  });

  test('values xinetd refuses: that service is disabled or not converted with xinetd\'s reason, the other one converts', async () => {
    const dir = await freshDir();
    const cases: [string, RegExp][] = [
      ['\twait = perhaps\n\tuser = root\n\tserver = /bin/cat\n', /^# not converted: xinetd did not start it: Bad value for wait: perhaps \(line 15: wait = perhaps\)$/m],
      ['\tuser = root\n\tserver = /bin/cat\n', /^# not converted: xinetd did not start it: Service bad missing attribute wait$/m],
      ['\twait = no\n\tuser = root\n\tserver = /bin/cat\n\tinstances = many\n', /^# disabled: xinetd did not start it: Number of instances is invalid: many \(line 18: instances = many\)$/m],
      ['\twait = no\n\tuser = root\n\tserver = /bin/cat\n\tcps = fast 10\n', /^# disabled: xinetd did not start it: cps argument not a number \(line 18: cps = fast 10\)$/m],
      ['\twait = no\n\tuser = root\n\tserver += /bin/cat\n', /^# not converted: xinetd did not start it: Must specify a server in bad$/m],
    ];
    for (const [i, [lines, reason]] of cases.entries()) {
      const file = join(dir, `case${i}`);
      await writeFile(file, good + bad(lines));
      const r = await convertOk(file);
      assert.match(r.stdout, reason, r.stdout);
      assert.match(r.stdout, /^\[good\]\n(# xinetd: no flags = IPv4 or IPv6.*\n)?protocol = tcp4\nport = 7000\nserver = \/bin\/cat\nwait = no\nuser = root\n/m, 'the other service is converted');
    }
  });

  test('a fixed attribute set twice: the first counts, as in xinetd', async () => {
    const file = join(await freshDir(), 'twice');
    await writeFile(file, bad('\twait = no\n\tuser = root\n\tserver = /bin/cat\n\tport = 7002\n'));
    const r = await convertOk(file);
    assert.match(r.stdout, /^port = 7001$/m);
    assert.match(r.stdout, /^# xinetd: port = 7002 \(line 9\) — ignored, as xinetd ignores an attribute set again: the one at line 5 counts$/m);
  });

  test('a service attribute in defaults is ignored, as xinetd ignores it', async () => {
    const file = join(await freshDir(), 'xinetd.conf');
    await writeFile(file, `defaults\n{\n\tserver = /bin/sh\n}\n${good}`);
    const r = await convertOk(file);
    assert.match(r.stdout, /^# xinetd: server = \/bin\/sh \(defaults, line 3\) — ignored, as xinetd ignores it in defaults \("attribute: server should not be in default section"\)/m);
    assert.match(r.stdout, /^server = \/bin\/cat$/m);
  });

  test('an include that cannot be read is skipped, with a note naming the line', async () => {
    const dir = await freshDir();
    const file = join(dir, 'xinetd.conf');
    await writeFile(file, `# x\nincludedir /nonexistent/xinetd.d\n${good}`);
    const r = await convertOk(file);
    const note = `${file}:2: includedir /nonexistent/xinetd.d skipped: cannot read directory '/nonexistent/xinetd.d': no such file or directory; xinetd skips what it cannot read and serves the rest`;
    assert.ok(r.stderr.split('\n').includes(`superd convert: note: ${note}`), r.stderr);
    assert.ok(r.stdout.split('\n').includes(`# xinetd: ${note}`), r.stdout);
    assert.match(r.stdout, /^\[good\]$/m);
  });
});

describe('-o never overwrites', { timeout: 60000 }, () => {
  test('an existing target: exit 1, the file untouched, nothing else written', async () => {
    const out = join(await freshDir(), 'services.d');
    await mkdir(out, { mode: 0o755 });
    await writeFile(join(out, 'tftp.conf'), 'mine\n');
    const r = await convertCli(join(FIXTURES, 'xinetd', 'xinetd.conf'), '-o', out);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^${join(out, 'tftp.conf').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: already exists: superd convert never overwrites`, 'm'));
    assert.match(r.stderr, /^superd convert: nothing was written$/m);
    assert.deepEqual(await readdir(out), ['tftp.conf']);
    assert.equal(await readFile(join(out, 'tftp.conf'), 'utf8'), 'mine\n');
  });

  test('a second run into the same directory is refused as a whole', async () => {
    const out = join(await freshDir(), 'services.d');
    const first = await convertCli(join(FIXTURES, 'inetd.conf'), '-o', out);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(await readdir(out), ['inetd.conf']);
    const before = await readFile(join(out, 'inetd.conf'), 'utf8');
    const second = await convertCli(join(FIXTURES, 'inetd.conf'), '-o', out);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /inetd\.conf: already exists/);
    assert.equal(await readFile(join(out, 'inetd.conf'), 'utf8'), before);
  });
});
