// SPEC §1 (options, environment, exit status) and §6 (the text log format),
// through the real bin/superd.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePorts } from './helpers/clients.js';
import { ROOT, SUPERD, runSuperd, serviceFile, tempDir, type CliResult } from './helpers/daemon.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A scratch dir with an empty, safe services dir and a control socket path nobody uses. */
async function scratch(): Promise<{ base: string; services: string; sock: string }> {
  const base = await tempDir('superd-cli-');
  dirs.push(base);
  const services = join(base, 'services.d');
  await mkdir(services, { mode: 0o755 });
  return { base, services, sock: join(base, 'control.sock') };
}

/**
 * For options that must be refused: were they accepted instead, superd would
 * run as a daemon on an empty dir until the timeout kills it (code null).
 */
async function mustRefuse(args: string[]): Promise<CliResult> {
  const s = await scratch();
  const r = await runSuperd([...args, '-d', s.services, '--control-socket', s.sock, '--pid-file', join(s.base, 'p.pid')], { timeoutMs: 5000 });
  assert.equal(r.timedOut, false, `superd refused the command line instead of running; stderr:\n${r.stderr}`);
  assert.equal(r.code, 1, `exit 1; stderr:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\bstarted\b/, 'no daemon was started');
  return r;
}

describe('superd command line', { timeout: 120000 }, () => {
  test('--help prints usage with the commands and options, exit 0', async () => {
    const r = await runSuperd(['--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const word of ['superd', 'check', 'reload', 'status', '--services-dir', '--pid-file', '--watch', '--log-level', '--log-format', '--log-file', '--shutdown-grace', '--control-socket']) {
      assert.ok(r.stdout.includes(word), `--help mentions ${word}:\n${r.stdout}`);
    }
  });

  test('--version prints the version from package.json, exit 0', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await runSuperd(['--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), pkg.version);
  });

  test('an unknown option: exit 1 with a message naming it', async () => {
    const r = await mustRefuse(['--frobnicate']);
    assert.match(r.stderr, /frobnicate/);
  });

  test('an unknown option to check: exit 1 with a message naming it', async () => {
    const r = await mustRefuse(['check', '--frobnicate']);
    assert.match(r.stderr, /frobnicate/);
  });

  test('an unknown command: exit 1 with a message naming it', async () => {
    const r = await mustRefuse(['frobnicate']);
    assert.match(r.stderr, /frobnicate/);
  });

  test('--log-level nope: exit 1 with a message', async () => {
    const r = await mustRefuse(['--log-level', 'nope']);
    assert.match(r.stderr, /log-level/);
    assert.match(r.stderr, /nope/);
  });

  test('--log-format nope: exit 1 with a message', async () => {
    const r = await mustRefuse(['--log-format', 'nope']);
    assert.match(r.stderr, /log-format/);
  });

  test('--shutdown-grace -1: exit 1 with a message, no daemon', async () => {
    const r = await mustRefuse(['--shutdown-grace', '-1']);
    assert.match(r.stderr, /shutdown-grace/);
  });

  test('--shutdown-grace soon: exit 1 with a message, no daemon', async () => {
    const r = await mustRefuse(['--shutdown-grace', 'soon']);
    assert.match(r.stderr, /shutdown-grace/);
  });

  test('options from the environment: SUPERD_SERVICES_DIR=DIR superd check reads DIR', async () => {
    const s = await scratch();
    await writeFile(join(s.services, 'a.conf'), serviceFile('from-env', { port: 7001, bind: '127.0.0.1', server: '/bin/cat' }), { mode: 0o644 });
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', SUPERD_SERVICES_DIR: s.services };
    const r = await runSuperd(['check'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^from-env .*127\.0\.0\.1:7001/m);

    // The command line wins over the environment.
    const other = await scratch();
    const r2 = await runSuperd(['check', '-d', other.services], { env });
    assert.equal(r2.code, 0, r2.stderr);
    assert.doesNotMatch(r2.stdout, /from-env/);

    // And a bad value from the environment is refused like one on the command line.
    const r3 = await runSuperd(['check'], { env: { ...env, SUPERD_LOG_LEVEL: 'nope' } });
    assert.equal(r3.code, 1, r3.stderr);
    assert.match(r3.stderr, /nope/);
  });
});

describe('--log-format text', { timeout: 120000 }, () => {
  test('lines look like `TIME LEVEL EVENT key=value`, values with spaces quoted', async () => {
    const base = await tempDir('superd-cli-');
    dirs.push(base);
    // A space in the path: the `file=` value of config_error must be quoted.
    const services = join(base, 'my services');
    await mkdir(services, { mode: 0o755 });
    const [port] = (await freePorts(1)) as [number];
    await writeFile(join(services, 'a.conf'), serviceFile('good', { port, bind: '127.0.0.1', server: '/bin/cat' }), { mode: 0o644 });
    await writeFile(join(services, 'b.conf'), `[bad]\nport = 7001\nserver = /bin/cat\ninstnaces = 4\n`, { mode: 0o644 });

    const child = spawn(process.execPath, [SUPERD, 'run', '-d', services, '--log-format', 'text', '--control-socket', join(base, 'c.sock'), '--shutdown-grace', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 10000;
      while (!/ started( |$)/m.test(stderr) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 25));
      assert.match(stderr, / started( |$)/m, `started within 10 s:\n${stderr}`);
    } finally {
      child.kill('SIGTERM');
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    const code = await exited;
    clearTimeout(timer);
    assert.equal(code, 0);

    const VALUE = String.raw`(?:"(?:[^"\\]|\\.)*"|[^\s"]+)`;
    const LINE = new RegExp(String.raw`^(\S+) (error|warn|info|debug) ([a-z_]+)((?: [a-z_]+=${VALUE})*)$`);
    const FIELD = new RegExp(String.raw`([a-z_]+)=(${VALUE})`, 'g');
    const parsed = stderr
      .trimEnd()
      .split('\n')
      .map((line) => {
        const m = LINE.exec(line);
        assert.ok(m !== null, `not TIME LEVEL EVENT key=value…: ${JSON.stringify(line)}`);
        const [, time, level, event, rest] = m as unknown as [string, string, string, string, string];
        assert.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/, `ISO 8601 time: ${line}`);
        assert.ok(!Number.isNaN(Date.parse(time)), `a valid time: ${line}`);
        const fields: Record<string, string> = {};
        for (const f of rest.matchAll(FIELD)) {
          const raw = f[2] as string;
          fields[f[1] as string] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
        }
        return { line, level, event, fields };
      });

    const events = parsed.map((p) => p.event);
    for (const e of ['config_error', 'listening', 'started', 'shutdown', 'stopped']) assert.ok(events.includes(e), `${e} in:\n${stderr}`);

    const err = parsed.find((p) => p.event === 'config_error');
    assert.ok(err !== undefined);
    assert.equal(err.level, 'error');
    assert.equal(err.fields.file, join(services, 'b.conf'));
    assert.ok(err.line.includes(`file="${join(services, 'b.conf')}"`), `a value with a space is quoted: ${err.line}`);
    assert.equal(err.fields.line, '4');
    assert.equal(err.fields.service, 'bad');
    assert.ok((err.fields.message ?? '').includes("unknown key 'instnaces'"), err.line);
    assert.match(err.line, / message="[^"]* [^"]*"/, `the message (with spaces) is quoted: ${err.line}`);

    const listening = parsed.find((p) => p.event === 'listening');
    assert.equal(listening?.fields.service, 'good');
    assert.ok(listening?.fields.address?.includes(`127.0.0.1:${port}`), listening?.line);
    assert.equal(parsed.find((p) => p.event === 'shutdown')?.fields.signal, 'SIGTERM');
  });
});

test('superd completion prints a bash completion script that names superd (SPEC §1)', async () => {
  const r = await runSuperd(['completion']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /###-begin-superd-completions-###/);
  assert.match(r.stdout, /complete .*superd/);
  const words = await runSuperd(['--get-yargs-completions', 'superd', '']);
  for (const command of ['run', 'check', 'reload', 'status', 'convert', 'completion']) assert.match(words.stdout, new RegExp(`^${command}$`, 'm'));
});
