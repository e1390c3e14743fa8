// A file of junk in the services dir (issue 14): at most MAX_PROBLEMS_PER_FILE
// errors per file, then one "and M more", in `superd check` and the daemon's
// log alike; quickly, and without keeping the good file next to it from
// loading. Each run is bounded to a few seconds.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadServicesDir } from '../src/config/load.js';
import { FileProblems, MAX_PROBLEMS_PER_FILE, problemCount } from '../src/config/problems.js';
import { configError } from '../src/errors.js';
import { runSuperd, startDaemon, tempDir } from './helpers/daemon.js';
import { freePort } from './helpers/clients.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const MIB = 1024 * 1024;

/** Just under the 1 MiB a file may have, of lines that are each an error of some kind. */
function junk(): string {
  const kinds = [
    (i: number) => `this is not a key ${i}`,
    (i: number) => `[svc${i}]\nprot = 7\nsevrer = /bin/cat\nusr = nobdy`,
    (i: number) => `[p${i}]\nport = tcpmxx\nbuiltin = echoo\nuser = nobdoy`,
    (i: number) => `= ${i}`,
    (i: number) => `[bad name ${i}]`,
  ];
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < MIB - 200; i++) {
    const line = (kinds[i % kinds.length] as (i: number) => string)(i);
    lines.push(line);
    size += line.length + 1;
  }
  return `${lines.join('\n')}\n`;
}

/** A large /etc/services and /etc/passwd, so that every "did you mean" would be costly. */
const ports = new Map(Array.from({ length: 2000 }, (_, i) => [`name${i}/tcp`, 1 + i] as [string, number]));
const passwd = { users: Array.from({ length: 2000 }, (_, i) => ({ name: `user${i}`, uid: 1000 + i, gid: 100 })), groups: [] };

async function servicesDir(files: Record<string, string>): Promise<string> {
  const base = await tempDir('superd-junk-');
  dirs.push(base);
  const dir = join(base, 'services.d');
  await mkdir(dir, { mode: 0o755 });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text, { mode: 0o644 });
  return dir;
}

const GOOD = '[good]\nport = 7\nbuiltin = echo\n';

describe('FileProblems', () => {
  const e = (line: number) => configError('syntax', 'f', line, null, `at ${line}`);
  test('keeps the first problems by line, whatever the order they come in, then one summary', () => {
    const p = new FileProblems('f', 'error', 3);
    for (const line of [50, 40, 2, 30, 1, 60, 3, 2]) p.push(e(line));
    const list = p.list();
    assert.deepEqual(list.map((x) => x.line), [1, 2, 2, 3]);
    assert.equal(list[3]?.code, 'more_errors');
    assert.match(list[3]?.message ?? '', /^and 5 more errors in this file/);
    assert.equal(problemCount(list[3] ?? e(0)), 5);
    assert.equal(p.count, 8);
  });
  test('wants() says whether a problem on that line would be shown', () => {
    const p = new FileProblems('f', 'warning', 2);
    assert.equal(p.wants(100), true);
    p.push(e(10));
    p.push(e(20));
    assert.equal(p.wants(15), true);
    assert.equal(p.wants(20), false);
    assert.equal(p.wants(100), false);
  });
  test("a summary pushed into another adds its count (check's missing programs)", () => {
    const a = new FileProblems('f', 'error', 1);
    for (const line of [1, 2, 3]) a.push(e(line));
    const b = new FileProblems('f', 'error', 1);
    a.list().forEach(b.push);
    b.push(e(9));
    assert.deepEqual(b.list().map((x) => [x.line, problemCount(x)]), [[1, 1], [2, 3]]);
  });
  test('no summary when nothing was left out', () => {
    const p = new FileProblems('f', 'error');
    p.push(e(1));
    assert.deepEqual(p.list().map((x) => x.code), ['syntax']);
  });
});

describe('a 1 MiB file of junk', { timeout: 60000 }, () => {
  const text = junk();

  // How fast it loads is measured by `npm run bench`, not asserted here.
  test('loads, with at most 20 errors and one summary, and the good file beside it still loads', async () => {
    const dir = await servicesDir({ 'a-junk.conf': text, 'b-good.conf': GOOD });
    const load = await loadServicesDir(dir, { ports, passwd, selfUid: 1000, selfGid: 100 });
    const [bad, good] = load.files;
    assert.ok(bad !== undefined && good !== undefined);
    assert.equal(bad.errors.length, MAX_PROBLEMS_PER_FILE + 1);
    const summary = bad.errors.at(-1);
    assert.equal(summary?.code, 'more_errors');
    const total = bad.errors.reduce((n, e) => n + problemCount(e), 0);
    assert.ok(total > 50000, `counts every error: ${total}`);
    assert.match(summary?.message ?? '', new RegExp(`^and ${total - MAX_PROBLEMS_PER_FILE} more errors in this file`));
    // The first errors of the file, in line order.
    const lines = bad.errors.map((e) => e.line);
    assert.deepEqual(lines, [...lines].sort((a, b) => a - b));
    assert.equal(lines[0], 1);
    assert.ok(bad.errors.slice(0, -1).every((e) => e.line < (summary?.line ?? 0) || e.line === summary?.line));
    // The shown ones still get their hints.
    assert.ok(bad.errors.some((e) => /did you mean 'port'/.test(e.message)), JSON.stringify(bad.errors, null, 1));
    assert.deepEqual(good.errors, []);
    assert.deepEqual(good.services.map((s) => s.name), ['good']);
  });

  test('superd check: at most 21 lines for the file, the good service listed', async () => {
    const dir = await servicesDir({ 'a-junk.conf': text, 'b-good.conf': GOOD });
    const r = await runSuperd(['check', '-d', dir], { timeoutMs: 20000 });
    assert.equal(r.timedOut, false);
    assert.equal(r.code, 1);
    const junkLines = r.stderr.split('\n').filter((l) => l.startsWith(join(dir, 'a-junk.conf')));
    assert.equal(junkLines.length, MAX_PROBLEMS_PER_FILE + 1, r.stderr.slice(0, 3000));
    assert.match(junkLines.at(-1) ?? '', /:\d+: and \d+ more errors in this file/);
    assert.ok(r.stderr.length < 10000, `${r.stderr.length} bytes on stderr`);
    assert.match(r.stdout, /^good \*:7\/tcp nowait builtin echo$/m);
    // The closing count is the real number of errors.
    const m = /^(\d+) errors in /m.exec(r.stderr);
    assert.ok(m !== null && Number(m[1]) > 50000, r.stderr.slice(-300));
  });

  test('the daemon logs at most 21 config_error events for the file and serves the good one', async () => {
    const port = await freePort();
    const d = await startDaemon({
      services: { 'a-junk.conf': text, 'b-good.conf': GOOD.replace('port = 7', `port = ${port}`) },
    });
    try {
      await d.waitFor((r) => r.event === 'listening' && r.service === 'good', 'good listening', 10000);
      const errors = d.logs.filter((r) => r.event === 'config_error');
      assert.equal(errors.length, MAX_PROBLEMS_PER_FILE + 1);
      assert.match(String(errors.at(-1)?.message), /more errors in this file/);
      // A reload of the same junk is as bounded, and superd stays up.
      await d.reload(10000);
      assert.equal(d.logs.filter((r) => r.event === 'config_error').length, 2 * (MAX_PROBLEMS_PER_FILE + 1));
    } finally {
      await d.stop();
    }
  });
});

describe('a file of warnings', () => {
  test('at most 20 and one summary', async () => {
    const sections = Array.from({ length: 500 }, (_, i) => `[s${i}]\nport = ${7000 + i}\nserver = /bin/cat\nargs = -v ; old`).join('\n');
    const dir = await servicesDir({ 'w.conf': sections });
    const load = await loadServicesDir(dir, { ports, passwd, selfUid: 1000, selfGid: 100 });
    const w = load.files[0]?.warnings ?? [];
    assert.equal(w.length, MAX_PROBLEMS_PER_FILE + 1);
    assert.equal(w.at(-1)?.code, 'more_warnings');
    assert.match(w.at(-1)?.message ?? '', /^and 480 more warnings in this file/);
    assert.equal(load.files[0]?.services.length, 500);
  });
});
