// `superd convert` on input it cannot take: malformed xinetd and inetd.conf
// files, a missing source, a file already in superd's syntax. Each gives one
// error naming the file and the line, exit status 1, and nothing written; and
// -o never overwrites a file.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, runSuperd, tempDir, type CliResult } from './helpers/daemon.js';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'convert');
const BAD = join(FIXTURES, 'bad');

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function freshDir(): Promise<string> {
  const d = await tempDir('superd-convert-');
  dirs.push(d);
  return d;
}

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

  test('xinetd: an unknown attribute, with a suggestion', async () => {
    const file = join(BAD, 'unknown-attribute');
    refused(await convertCli(file), file, 7, /unknown xinetd attribute 'instnaces' \(did you mean 'instances'\?\)/);
  });

  test('xinetd: values xinetd itself would refuse', async () => {
    const dir = await freshDir();
    const cases: [string, number, RegExp][] = [
      ['service a\n{\n\tsocket_type = stream\n\twait = perhaps\n\tserver = /bin/cat\n}\n', 4, /service a: wait must be yes or no, got 'perhaps'/],
      ['service a\n{\n\tsocket_type = stream\n\tserver = /bin/cat\n}\n', 1, /service a: wait is missing/],
      ['service a\n{\n\tsocket_type = stream\n\twait = no\n\tserver = /bin/cat\n\tinstances = many\n}\n', 6, /instances must be a whole number of at least 1 or UNLIMITED/],
      ['service a\n{\n\tsocket_type = stream\n\twait = no\n\tserver = /bin/cat\n\tcps = fast\n}\n', 6, /cps takes connections per second and seconds to pause/],
      ['service a\n{\n\tsocket_type = stream\n\twait = no\n\tport = 7\n\tport = 8\n\tserver = /bin/cat\n}\n', 6, /'port' is repeated \(first set at line 5\)/],
      ['service a\n{\n\tsocket_type = stream\n\twait = no\n\tserver += /bin/cat\n}\n', 5, /'server' takes only '=', not '\+='/],
      ['service a\n\tsocket_type = stream\n', 2, /expected '\{' after 'service a' at line 1/],
      ['defaults\n{\n\tserver = /bin/cat\n}\n', 3, /'server' belongs in a service block, not in defaults/],
      ['service a\n{\n\tsocket_type = stream\n\twait = no\n\tserver = /bin/cat\n}\n}\n', 7, /'\}' outside of a service or defaults block/],
    ];
    for (const [i, [text, line, message]] of cases.entries()) {
      const file = join(dir, `case${i}`);
      await writeFile(file, text);
      refused(await convertCli(file), file, line, message);
    }
  });

  test('xinetd: an error in one file of a directory writes none of the others', async () => {
    const src = join(await freshDir(), 'xinetd.d');
    await cp(join(FIXTURES, 'xinetd', 'xinetd.d'), src, { recursive: true });
    await cp(join(BAD, 'unknown-attribute'), join(src, 'zz-broken'));
    const out = join(await freshDir(), 'out');
    refused(await convertCli(src, '-o', out), join(src, 'zz-broken'), 7, /unknown xinetd attribute/);
    await assert.rejects(readdir(out));
  });

  test('xinetd: an include that cannot be read names the include line', async () => {
    const dir = await freshDir();
    const file = join(dir, 'xinetd.conf');
    await writeFile(file, '# x\nincludedir /nonexistent/xinetd.d\n');
    refused(await convertCli(file), file, 2, /cannot read directory '\/nonexistent\/xinetd\.d': no such file or directory/);
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
