// The package as a user installs it: `npm pack` of a copy of the tracked
// files (never in this checkout: its dist/ is what the suite runs from, and
// prepack clears dist/src), `npm install -g` of the tarball into a
// temporary prefix, then the installed superd checks, serves, prints its
// unit and is uninstalled. npm finds the dependencies in its cache (filled
// by `npm ci`), or in the registry for what the cache lacks; without either
// the test is skipped, saying so.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { test, type TestContext } from 'node:test';
import { exchange, freePorts } from './helpers/clients.js';
import { collectLog, ROOT, type LogRecord } from './helpers/daemon.js';
import { runProgram, type RunResult } from './helpers/proc.js';
import { eventually } from './helpers/wait.js';

/** npm pack builds with tsc (about 30 s here, more on a loaded host); npm install may reach the registry. */
const PACK_MS = 240_000;
const INSTALL_MS = 150_000;
const CLI_MS = 30_000;

/**
 * The environment npm and the installed superd get: this node first on PATH
 * (npm and bin/superd run `env node`), and none of the npm_* variables an
 * enclosing `npm test` sets (npm_config_local_prefix would point npm pack at
 * this checkout) nor SUPERD_* options.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(npm_|SUPERD_|INIT_CWD$)/i.test(k)) env[k] = v;
  }
  env.PATH = [dirname(process.execPath), process.env.PATH ?? '/usr/bin:/bin'].join(delimiter);
  return env;
}

/** Copies the files git tracks into dir (their modes kept), or says why it cannot. */
async function copyTracked(dir: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  if (!existsSync(join(ROOT, '.git'))) return `${ROOT} is not a git checkout`;
  const ls = await runProgram('git', ['-c', `safe.directory=${resolve(ROOT)}`, '-C', ROOT, 'ls-files', '-z'], { env, timeoutMs: CLI_MS }).catch((err: Error) => err);
  if (ls instanceof Error || ls.code !== 0) return `git ls-files failed: ${ls instanceof Error ? ls.message : ls.stderr}`;
  for (const file of ls.stdout.split('\0').filter((f) => f !== '')) {
    const from = join(ROOT, file);
    const st = await stat(from).catch(() => null);
    if (st === null || !st.isFile()) continue; // deleted in the work tree, or a submodule
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await copyFile(from, join(dir, file));
    await chmod(join(dir, file), st.mode & 0o777);
  }
  return null;
}

/** Why npm could not install the tarball's dependencies, when the cause is the cache or the network rather than the package. */
function unreachable(r: RunResult): string | null {
  const out = `${r.stdout}${r.stderr}`;
  const m = /\b(ENOTCACHED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED|ECONNRESET|ENETUNREACH|EHOSTUNREACH)\b.*/.exec(out);
  return m === null ? null : m[0];
}

function run(t: TestContext, cmd: string, args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number }): Promise<RunResult> {
  t.diagnostic(`$ ${[cmd, ...args].join(' ')}`);
  return runProgram(cmd, args, { timeoutMs: CLI_MS, ...opts });
}

/** The shipped services.d in dir with every `port = N` moved to a free port; returns the ports by service. */
async function servicesOnFreePorts(shipped: string, dir: string): Promise<Record<string, number>> {
  const files = (await readdir(shipped)).filter((f) => f.endsWith('.conf'));
  const texts = await Promise.all(files.map((f) => readFile(join(shipped, f), 'utf8')));
  const count = texts.reduce((n, text) => n + (text.match(/^port = \d+$/gm)?.length ?? 0), 0);
  const ports = await freePorts(count, '127.0.0.1');
  const byService: Record<string, number> = {};
  await mkdir(dir, { mode: 0o755 });
  for (const [i, file] of files.entries()) {
    let service = '';
    const text = (texts[i] ?? '').replace(/^\[(.+)\]$|^port = \d+$/gm, (line, name: string | undefined) => {
      if (name !== undefined) {
        service = name;
        return line;
      }
      const port = ports.shift() ?? 0;
      byService[service] = port;
      return `port = ${port}`;
    });
    await writeFile(join(dir, file), text, { mode: 0o644 });
  }
  return byService;
}

test('npm pack ships what a user needs; npm install -g of it checks, serves, prints its unit and uninstalls', { timeout: PACK_MS + INSTALL_MS + 180_000 }, async (t) => {
  const env = cleanEnv();
  const npm = await runProgram('npm', ['--version'], { env, timeoutMs: CLI_MS }).catch(() => null);
  if (npm === null || npm.code !== 0) {
    t.skip('npm is not installed');
    return;
  }
  t.diagnostic(`node ${process.version}, npm ${npm.stdout.trim()}`);
  const scratch = await mkdtemp(join(tmpdir(), 'superd-package-'));
  try {
    const src = join(scratch, 'src');
    const prefix = join(scratch, 'prefix');
    await mkdir(src);
    await mkdir(prefix, { mode: 0o755 });
    const why = await copyTracked(src, env);
    if (why !== null) {
      t.skip(why);
      return;
    }
    await symlink(realpathSync(join(ROOT, 'node_modules')), join(src, 'node_modules'));
    const pkg = JSON.parse(await readFile(join(src, 'package.json'), 'utf8')) as { name: string; version: string };
    const tarball = join(src, `${pkg.name}-${pkg.version}.tgz`);

    await t.test('npm pack builds (prepack, prepare) and ships bin, dist/src, man, contrib, services.d, README, LICENSE only', async (t) => {
      const packed = await run(t, 'npm', ['pack', '--silent'], { env, cwd: src, timeoutMs: PACK_MS });
      assert.equal(packed.code, 0, `${packed.stdout}${packed.stderr}`);
      assert.ok(existsSync(tarball), `no ${tarball}; npm pack printed ${packed.stdout}`);
      const list = await runProgram('tar', ['-tzf', tarball], { env, timeoutMs: CLI_MS });
      assert.equal(list.code, 0, list.stderr);
      const files = list.stdout.split('\n').filter((f) => f !== '').map((f) => f.replace(/^package\//, ''));
      for (const must of ['package.json', 'README.md', 'LICENSE', 'bin/superd', 'dist/src/cli.js', 'dist/src/signals.js', 'dist/src/commands/unit.js', 'man/superd.8', 'man/superd.conf.5', 'contrib/superd.service', 'contrib/superd.logrotate', 'services.d/echo.conf']) {
        assert.ok(files.includes(must), `the tarball has no ${must}`);
      }
      const unwanted = files.filter((f) => /^(test|bench|src|dist\/test|dist\/bench|node_modules|\.ci)\//.test(f) || f.endsWith('.ts') || f === 'tsconfig.json' || f === 'package-lock.json');
      assert.deepEqual(unwanted, [], 'files a user does not need');
      const outside = files.filter((f) => !/^(bin|dist\/src|man|contrib|services\.d)\/|^(package\.json|README\.md|LICENSE)$/.test(f));
      assert.deepEqual(outside, [], 'files outside package.json\'s "files"');
    });
    if (!existsSync(tarball)) return;

    const installed = join(prefix, 'lib', 'node_modules', pkg.name);
    const superd = join(prefix, 'bin', 'superd');
    // One retry: without a registry npm fails in seconds rather than minutes.
    const install = await run(t, 'npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--fetch-retries=1', '--no-audit', '--no-fund', tarball], { env, cwd: scratch, timeoutMs: INSTALL_MS }).catch((err: Error) => err);
    if (install instanceof Error) {
      t.skip(`npm install could not finish (no npm cache and no registry?): ${install.message.slice(0, 300)}`);
      return;
    }
    const offline = unreachable(install);
    if (install.code !== 0 && offline !== null) {
      t.skip(`npm could not get the dependencies from its cache (${env.HOME ?? '~'}/.npm: run npm ci first) nor from the registry: ${offline}`);
      return;
    }
    assert.equal(install.code, 0, `${install.stdout}${install.stderr}`);

    await t.test('the installed superd runs, from npm\'s link, with no compiler and no devDependencies', async (t) => {
      assert.ok(!existsSync(join(installed, 'node_modules', 'typescript')), 'typescript installed');
      const version = await run(t, superd, ['--version'], { env });
      assert.equal(version.code, 0, version.stderr);
      assert.equal(version.stdout.trim(), pkg.version);
    });

    await t.test('superd check accepts the shipped services.d', async (t) => {
      const check = await run(t, superd, ['check', '-d', join(installed, 'services.d')], { env });
      assert.equal(check.code, 0, `${check.stdout}${check.stderr}`);
      assert.match(check.stdout, /^echo 127\.0\.0\.1:7007\/tcp /m);
    });

    await t.test('superd run serves the shipped echo service (on a free port), then stops on SIGTERM', async (t) => {
      const dir = join(scratch, 'run');
      await mkdir(dir, { mode: 0o755 });
      const servicesDir = join(dir, 'services.d');
      const port = await servicesOnFreePorts(join(installed, 'services.d'), servicesDir);
      const echoPort = port.echo ?? assert.fail('the shipped services.d has no echo service');
      const args = ['run', '-d', servicesDir, '--control-socket', join(dir, 'control.sock'), '--pid-file', join(dir, 'superd.pid'), '--log-format', 'json'];
      t.diagnostic(`$ ${superd} ${args.join(' ')}`);
      const proc = spawn(superd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
      const logs: LogRecord[] = [];
      const other: string[] = [];
      if (proc.stderr !== null) collectLog(proc.stderr, logs, other);
      const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
      const dump = (): string => [...logs.map((r) => JSON.stringify(r)), ...other].join('\n');
      let code: number | null;
      try {
        const up = await eventually(() => proc.exitCode !== null || logs.some((r) => r.event === 'started'), 30_000);
        assert.ok(up && proc.exitCode === null, `superd did not start:\n${dump()}`);
        const failed = logs.filter((r) => r.event === 'bind_failed');
        // A free port taken in the meantime is not what this test is about.
        if (failed.length > 0) {
          t.skip(`a port was taken before superd could bind it: ${JSON.stringify(failed)}`);
          return;
        }
        const payload = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));
        const r = await exchange(echoPort, payload);
        assert.equal(r.how, 'end');
        assert.ok(r.data.equals(payload), `echo returned ${r.data.length} bytes, not the ${payload.length} sent`);
      } finally {
        if (proc.exitCode === null) proc.kill('SIGTERM');
        const killer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
        code = await exited;
        clearTimeout(killer);
      }
      assert.equal(code, 0, `superd's exit status after SIGTERM:\n${dump()}`);
    });

    await t.test('superd unit names the installed bin/superd and this node; systemd-analyze verify accepts it', async (t) => {
      const unit = await run(t, superd, ['unit'], { env });
      assert.equal(unit.code, 0, unit.stderr);
      const entry = realpathSync(join(installed, 'bin', 'superd'));
      assert.ok(entry.startsWith(realpathSync(prefix)), entry);
      assert.match(unit.stdout, new RegExp(`^ExecStart=${escape(realpathSync(process.execPath))} --max-semi-space-size=1 ${escape(entry)} run `, 'm'));
      if (!existsSync('/usr/bin/systemd-analyze')) {
        t.diagnostic('systemd-analyze is not installed: the unit was not verified');
        return;
      }
      const file = join(scratch, 'superd.service');
      await writeFile(file, unit.stdout);
      const v = await runProgram('/usr/bin/systemd-analyze', ['verify', '--man=no', file], { env, timeoutMs: CLI_MS });
      assert.equal(v.code, 0, `${v.stdout}${v.stderr}`);
      assert.equal(v.stderr.trim(), '', v.stderr);
    });

    await t.test('man superd finds the page npm linked into PREFIX/share/man', async (t) => {
      for (const page of ['man8/superd.8', 'man5/superd.conf.5']) {
        const link = join(prefix, 'share', 'man', page);
        assert.ok(existsSync(link), `no ${link}`);
        assert.equal(realpathSync(link), realpathSync(join(installed, 'man', page.split('/')[1] ?? '')));
      }
      if (!existsSync('/usr/bin/man')) {
        t.diagnostic('man is not installed: only the links were checked');
        return;
      }
      const man = await run(t, '/usr/bin/man', ['-M', join(prefix, 'share', 'man'), '-w', 'superd'], { env });
      assert.equal(man.code, 0, man.stderr);
      // man prints the page's own path: the link's target.
      assert.equal(realpathSync(man.stdout.trim()), realpathSync(join(prefix, 'share', 'man', 'man8', 'superd.8')));
    });

    await t.test('npm uninstall -g removes the command, the pages and the package', async (t) => {
      const un = await run(t, 'npm', ['uninstall', '-g', '--prefix', prefix, '--no-audit', '--no-fund', pkg.name], { env, cwd: scratch, timeoutMs: INSTALL_MS });
      assert.equal(un.code, 0, `${un.stdout}${un.stderr}`);
      for (const gone of [superd, join(prefix, 'share', 'man', 'man8', 'superd.8'), installed]) assert.ok(!existsSync(gone), `${gone} is still there`);
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
