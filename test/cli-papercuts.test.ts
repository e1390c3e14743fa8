// Issue 26, papercuts 1, 2 and 5, through the real bin/superd: booleans from
// the environment and the command line take the spellings service files take
// (SPEC §1, §2); bash completion is the same whatever SUPERD_* is exported;
// no example in --help is split over two lines.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runSuperd, serviceFile, startDaemon, tempDir, type CliResult, type DaemonHandle, type LogRecord } from './helpers/daemon.js';

const PATH = process.env.PATH ?? '/usr/bin:/bin';
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** superd run with this environment and these extra arguments, on an empty services dir; waits for `started`. */
async function daemonWith(env: Record<string, string>, args: string[] = []): Promise<DaemonHandle> {
  return startDaemon({ env: { PATH, ...env }, args });
}

async function startedWatch(env: Record<string, string>, args: string[] = []): Promise<boolean> {
  const d = await daemonWith(env, args);
  try {
    const started = await d.waitFor((r) => r.event === 'started', 'started');
    return started.watch === true;
  } finally {
    await d.stop();
  }
}

/** A command line that must be refused before anything is bound: exit 1, no daemon. */
async function refused(args: string[], env: Record<string, string>): Promise<CliResult> {
  const base = await tempDir('superd-papercuts-');
  dirs.push(base);
  const services = join(base, 'services.d');
  await mkdir(services);
  const r = await runSuperd([...args, '-d', services, '--control-socket', join(base, 'c.sock'), '--log-format', 'json'], { env: { PATH, ...env }, timeoutMs: 10000 });
  assert.equal(r.timedOut, false, `superd ran instead of refusing; stderr:\n${r.stderr}`);
  assert.equal(r.code, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /"started"|"listening"|control_socket/, 'nothing was started or bound');
  return r;
}

describe('boolean options take yes/no, true/false, on/off, 1/0 in any case (as service files do)', { timeout: 180000 }, () => {
  test('SUPERD_WATCH=yes: the daemon watches, and a new service file reloads it', async () => {
    const d = await daemonWith({ SUPERD_WATCH: 'yes' });
    try {
      const started = await d.waitFor((r) => r.event === 'started', 'started');
      assert.equal(started.watch, true, 'started says watch=true');
      await d.writeService('u.conf', serviceFile('u', { protocol: 'unix', path: join(d.dir, 'u.sock'), server: '/bin/cat' }));
      const reload = await d.waitFor((r) => r.event === 'reload', 'a reload from --watch');
      assert.equal((reload as LogRecord).added, 1);
    } finally {
      await d.stop();
    }
  });

  for (const on of ['1', 'on', 'TRUE', 'true', 'Yes']) {
    test(`SUPERD_WATCH=${on} means on`, async () => {
      assert.equal(await startedWatch({ SUPERD_WATCH: on }), true);
    });
  }
  for (const off of ['0', 'no', 'OFF', 'false']) {
    test(`SUPERD_WATCH=${off} means off`, async () => {
      assert.equal(await startedWatch({ SUPERD_WATCH: off }), false);
    });
  }
  test('--watch=on and --watch=1 on the command line mean on; --watch=no off, even over SUPERD_WATCH=yes', async () => {
    assert.equal(await startedWatch({}, ['--watch=on']), true);
    assert.equal(await startedWatch({}, ['--watch=1']), true);
    assert.equal(await startedWatch({ SUPERD_WATCH: 'yes' }, ['--watch=no']), false);
  });

  test('SUPERD_WATCH=maybe: exit 1 naming the variable and the right values', async () => {
    const r = await refused(['run'], { SUPERD_WATCH: 'maybe' });
    assert.match(r.stderr, /SUPERD_WATCH must be yes or no \(or true\/false, on\/off, 1\/0\), got 'maybe'/);
  });
  test('SUPERD_WATCH= (empty): exit 1', async () => {
    const r = await refused(['run'], { SUPERD_WATCH: '' });
    assert.match(r.stderr, /SUPERD_WATCH must be yes or no/);
  });
  test('--watch=maybe: exit 1 naming the option', async () => {
    const r = await refused(['run', '--watch=maybe'], {});
    assert.match(r.stderr, /--watch must be yes or no \(or true\/false, on\/off, 1\/0\), got 'maybe'/);
  });
  test('SUPERD_JSON=sure (the other boolean): exit 1 naming it', async () => {
    const r = await refused(['status'], { SUPERD_JSON: 'sure' });
    assert.match(r.stderr, /SUPERD_JSON must be yes or no/);
  });
  test('SUPERD_JSON=on: superd status prints JSON', async () => {
    const d = await daemonWith({});
    try {
      const r = await runSuperd(['status', '--control-socket', d.controlSocket], { env: { PATH, SUPERD_JSON: 'on' } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { pid: number }).pid, d.pid);
    } finally {
      await d.stop();
    }
  });
});

describe('bash completion', { timeout: 60000 }, () => {
  /** What bash's completion function asks: `superd --get-yargs-completions WORDS...` (the words typed so far, the current one last). */
  async function complete(words: string[], env: Record<string, string>): Promise<string[]> {
    const r = await runSuperd(['--get-yargs-completions', 'superd', ...words], { env: { PATH, ...env } });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter((l) => l !== '');
  }
  const exported = { SUPERD_SERVICES_DIR: '/tmp', SUPERD_LOG_LEVEL: 'debug', SUPERD_WATCH: 'yes' };

  test('the script asks `superd --get-yargs-completions` with the words typed', async () => {
    const r = await runSuperd(['completion']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /superd --get-yargs-completions "\$\{args\[@\]\}"/);
  });
  test('with SUPERD_* exported: commands after `superd `, options after `superd run --`, as without', async () => {
    const commands = await complete([''], exported);
    for (const c of ['run', 'check', 'reload', 'status', 'convert', 'completion']) assert.ok(commands.includes(c), `offers ${c}: ${commands.join(' ')}`);
    assert.ok(!commands.some((c) => c.startsWith('-')), `no option after 'superd ': ${commands.join(' ')}`);
    assert.deepEqual(commands, await complete([''], {}));

    const options = await complete(['run', '--'], exported);
    for (const o of ['--services-dir', '--watch', '--log-level', '--control-socket']) assert.ok(options.includes(o), `offers ${o}: ${options.join(' ')}`);
    assert.deepEqual(options, await complete(['run', '--'], {}));
  });
});

describe('--help examples are never split', { timeout: 120000 }, () => {
  /** The lines of the Examples section, without their indentation. */
  function examples(help: string): string[] {
    const lines = help.split('\n');
    const start = lines.indexOf('Examples:');
    if (start < 0) return [];
    const end = lines.findIndex((l, i) => i > start && l.trim() === '');
    return lines.slice(start + 1, end < 0 ? undefined : end).map((l) => l.trim());
  }
  const CONVERT = 'superd convert /etc/xinetd.d -o /etc/superd/services.d';

  for (const command of [[], ['run'], ['check'], ['reload'], ['status'], ['convert'], ['completion']]) {
    test(`superd ${[...command, '--help'].join(' ')}: every example line is a whole command (or a comment), at 40, 80 and 200 columns alike`, async () => {
      const at = async (columns: number): Promise<string[]> => {
        const r = await runSuperd([...command, '--help'], { env: { PATH, COLUMNS: String(columns) } });
        assert.equal(r.code, 0, r.stderr);
        return examples(r.stdout);
      };
      const wide = await at(200);
      for (const line of wide) assert.match(line, /^(# |superd )/, `an example line that is neither a command nor a comment: '${line}'`);
      if (command.length === 0) assert.ok(wide.includes(CONVERT), `the convert example whole on one line:\n${wide.join('\n')}`);
      assert.deepEqual(await at(80), wide, 'the same lines at 80 columns');
      assert.deepEqual(await at(40), wide, 'the same lines at 40 columns');
    });
  }
});
