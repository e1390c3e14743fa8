// `superd unit` (SPEC §1): the unit it prints names this node and this
// bin/superd by absolute path, passes node the options of bin/superd's first
// line, and is, for the typical install, contrib/superd.service word for word.
import assert from 'node:assert/strict';
import { existsSync, realpathSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { nodeOptionsOf } from '../src/commands/unit.js';
import { execWord, renderUnit, TYPICAL_PATHS, UNIT_PID_FILE } from '../src/commands/unit-template.js';
import { ROOT, SUPERD, runSuperd } from './helpers/daemon.js';
import { runProgram } from './helpers/proc.js';

const CONTRIB = join(ROOT, 'contrib', 'superd.service');

async function shebangOptions(): Promise<string[]> {
  const first = (await readFile(SUPERD, 'utf8')).split('\n', 1)[0] ?? '';
  const options = nodeOptionsOf(first);
  assert.ok(options.ok, options.ok ? '' : options.error.message);
  return options.value;
}

/** The one line of a unit that sets `key`. */
function line(unit: string, key: string): string {
  const found = unit.split('\n').filter((l) => l.startsWith(`${key}=`));
  assert.equal(found.length, 1, `${key}= lines: ${found.join(' | ')}`);
  return found[0] ?? '';
}

test("bin/superd's first line is where node's options are read from", async () => {
  assert.deepEqual(await shebangOptions(), ['--max-semi-space-size=1']);
  assert.deepEqual(nodeOptionsOf('#!/usr/bin/env node'), { ok: true, value: [] });
  assert.deepEqual(nodeOptionsOf('#!/usr/bin/env -S node --a --b=1'), { ok: true, value: ['--a', '--b=1'] });
  const bad = nodeOptionsOf('#!/bin/sh');
  assert.ok(!bad.ok && /expected '#!\/usr\/bin\/env -S node/.test(bad.error.message));
});

test('contrib/superd.service is the unit printed for the typical install (edit src/commands/unit-template.ts, not the copy)', async () => {
  const expected = renderUnit({ ...TYPICAL_PATHS, nodeOptions: await shebangOptions(), servicesDir: '/etc/superd/services.d', pidFile: UNIT_PID_FILE });
  assert.equal(await readFile(CONTRIB, 'utf8'), expected);
});

test('superd unit prints that unit with the real paths of this node and this bin/superd', async () => {
  const r = await runSuperd(['unit']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const node = realpathSync(process.execPath);
  const superd = realpathSync(SUPERD);
  assert.equal(line(r.stdout, 'ExecStart'), `ExecStart=${node} --max-semi-space-size=1 ${superd} run --services-dir /etc/superd/services.d --pid-file /run/superd.pid`);
  assert.equal(line(r.stdout, 'ExecReload'), `ExecReload=${node} --max-semi-space-size=1 ${superd} reload --pid-file /run/superd.pid`);
  const contrib = await readFile(CONTRIB, 'utf8');
  assert.equal(r.stdout.replaceAll(superd, TYPICAL_PATHS.superd).replaceAll(node, TYPICAL_PATHS.node), contrib);
});

test('superd unit: --services-dir and --pid-file made absolute and quoted for systemd', async () => {
  const r = await runSuperd(['unit', '-d', 'my services%d', '--pid-file', 'run/$pid'], { cwd: '/tmp' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(line(r.stdout, 'ExecStart'), / run --services-dir "\/tmp\/my services%%d" --pid-file \/tmp\/run\/\$\$pid$/);
  assert.match(line(r.stdout, 'ExecReload'), / reload --pid-file \/tmp\/run\/\$\$pid$/);
  assert.equal(execWord('/a/b-c_d.e'), '/a/b-c_d.e');
  assert.equal(execWord('a "b"\\'), '"a \\"b\\"\\\\"');
});

test('superd unit refuses a path it cannot write into a unit', async () => {
  const r = await runSuperd(['unit', '-d', '/srv/a\nb']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^superd unit: a unit cannot name "\/srv\/a\\nb": it has a control character\n$/);
});

test('systemd-analyze verify accepts the printed unit', { skip: existsSync('/usr/bin/systemd-analyze') ? false : 'systemd-analyze is not installed' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'superd-unit-'));
  try {
    for (const args of [[], ['-d', join(dir, 'a dir%'), '--pid-file', join(dir, 'x$y.pid')]]) {
      const r = await runSuperd(['unit', ...args]);
      assert.equal(r.code, 0, r.stderr);
      const unit = join(dir, 'superd.service');
      await writeFile(unit, r.stdout);
      const v = await runProgram('/usr/bin/systemd-analyze', ['verify', '--man=no', unit], { timeoutMs: 30000 });
      assert.equal(v.code, 0, `${v.stdout}${v.stderr}`);
      assert.equal(v.stderr.trim(), '', v.stderr);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('superd.8 has `unit` among its COMMANDS', async () => {
  const page = await readFile(join(ROOT, 'man', 'superd.8'), 'utf8');
  const commands = page.slice(page.indexOf('\n.Sh COMMANDS\n'), page.indexOf('\n.Sh OPTIONS\n'));
  assert.match(commands, /^\.It Nm Cm unit\b/m);
});
