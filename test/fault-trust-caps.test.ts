// Handlers get no capability from superd, and no way back to one (issue 23):
// a root superd's user switch through setpriv also clears the inheritable and
// ambient sets, and a superd running as an ordinary user with ambient
// capabilities (systemd's AmbientCapabilities=) starts its handlers through
// setpriv to clear them, while keeping its own. Each daemon is launched with
// a capability set that the old code passed on, so the checks fail there.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ownCapabilities, parseCapabilities, passedOnByExec } from '../src/spawn/capabilities.js';
import { connectClient, freePorts } from './helpers/clients.js';
import { collectLog, serviceFile, startServices, SUPERD, tempDir, unreachableByOthers, type LogRecord } from './helpers/daemon.js';
import { runProgram } from './helpers/proc.js';
import { eventually } from './helpers/wait.js';

const isRoot = process.getuid?.() === 0;
const SETPRIV = '/usr/bin/setpriv';
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
/** The handler: its own capability lines. */
const CAP_DUMP = { server: '/bin/sh', args: `-c 'grep ^Cap /proc/self/status'` };
const CAP_NET_BIND_SERVICE = 1n << 10n;

/** nobody's uid and primary gid from /etc/passwd, or why not. */
function nobody(): { uid: number; gid: number } | string {
  try {
    const entry = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === 'nobody');
    if (entry === undefined) return 'no user nobody in /etc/passwd';
    return { uid: Number(entry[2]), gid: Number(entry[3]) };
  } catch (err) {
    return `cannot read /etc/passwd: ${(err as Error).message}`;
  }
}
const NOBODY = nobody();
const cannotSwitch: string | null = !isRoot
  ? 'needs root: superd is launched with capabilities, and as nobody'
  : !existsSync(SETPRIV)
    ? `no ${SETPRIV} to launch superd with capabilities`
    : typeof NOBODY === 'string'
      ? NOBODY
      : null;

/** The handler's Cap* lines, as numbers. */
function capLines(text: string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const m of text.matchAll(/^(Cap\w+):\s*([0-9a-f]+)$/gm)) out[m[1] ?? ''] = BigInt(`0x${m[2] ?? ''}`);
  return out;
}

function assertNoCapabilities(text: string, who: string): void {
  const caps = capLines(text);
  for (const name of ['CapInh', 'CapPrm', 'CapEff', 'CapAmb']) {
    assert.equal(caps[name], 0n, `${who}: ${name} should be 0; the handler said:\n${text}`);
  }
}

/** Everything a handler on port wrote before it closed the connection. */
async function handlerOutput(port: number): Promise<string> {
  const client = await connectClient(port);
  client.end();
  assert.equal(await client.waitClosed(5000), 'end', 'the handler closes the connection cleanly');
  return client.received().toString('latin1');
}

async function statusOf(pid: number): Promise<Record<string, bigint>> {
  return capLines(await readFile(`/proc/${pid}/status`, 'utf8'));
}

describe('parseCapabilities: the Cap* lines of /proc/PID/status', () => {
  const status = (amb: string | null): string =>
    ['Name:\tnode', 'Uid:\t0\t0\t0\t0', 'CapInh:\t0000000000000400', 'CapPrm:\t000001ffffffffff', 'CapEff:\t000001ffffffffff', 'CapBnd:\t000001ffffffffff', ...(amb === null ? [] : [`CapAmb:\t${amb}`]), 'NoNewPrivs:\t0', ''].join('\n');

  test('every set, as a number', () => {
    assert.deepEqual(parseCapabilities(status('0000000000000400')), {
      inheritable: 0x400n,
      permitted: 0x1ffffffffffn,
      effective: 0x1ffffffffffn,
      bounding: 0x1ffffffffffn,
      ambient: 0x400n,
    });
  });

  test('no CapAmb line (Linux before 4.3): no ambient set', () => {
    const sets = parseCapabilities(status(null));
    assert.ok(!(sets instanceof Error));
    assert.equal(sets.ambient, null);
    assert.equal(passedOnByExec(sets), 'CapInh=0000000000000400');
  });

  test('a missing or unreadable set is an Error naming it; unknown Cap lines are ignored', () => {
    const noInh = parseCapabilities(status('0').replace(/^CapInh:.*\n/m, ''));
    assert.ok(noInh instanceof Error && noInh.message.includes('CapInh'), String(noInh));
    const bad = parseCapabilities(status('zz'));
    assert.ok(bad instanceof Error && bad.message.includes('CapAmb'), String(bad));
    const tooLong = parseCapabilities(status('1'.repeat(17)));
    assert.ok(tooLong instanceof Error, 'more than 64 bits');
    assert.ok(!(parseCapabilities(`${status('0')}CapFuture:\tnot-hex\n`) instanceof Error));
  });

  test('passedOnByExec: the inheritable and ambient sets when not empty, nothing else', () => {
    const sets = parseCapabilities(status('0000000000000400'));
    assert.ok(!(sets instanceof Error));
    assert.equal(passedOnByExec(sets), 'CapInh=0000000000000400 CapAmb=0000000000000400');
    assert.equal(passedOnByExec({ ...sets, inheritable: 0n }), 'CapAmb=0000000000000400');
    assert.equal(passedOnByExec({ ...sets, inheritable: 0n, ambient: 0n }), null, 'permitted and effective sets do not survive an exec');
  });

  test("ownCapabilities agrees with this process's /proc/self/status; a missing file is an Error", async () => {
    const own = await ownCapabilities();
    assert.ok(!(own instanceof Error), String(own));
    const text = readFileSync('/proc/self/status', 'utf8');
    assert.equal(own.bounding, capLines(text).CapBnd);
    assert.ok((await ownCapabilities('/nonexistent/status')) instanceof Error);
  });
});

describe('a root superd with an inheritable set: a user = nobody handler gets none of it', { timeout: 60000 }, () => {
  test('CapInh, CapPrm, CapEff and CapAmb of the handler are all 0', async (t) => {
    if (cannotSwitch !== null) return t.skip(cannotSwitch);
    const { d, port } = await startServices(
      { caps_nobody: { bind: '127.0.0.1', ...CAP_DUMP, user: 'nobody' } },
      { launcher: [SETPRIV, '--inh-caps=+net_bind_service', '--'] },
    );
    try {
      const started = await d.waitFor((r) => r.event === 'started', 'started');
      assert.equal(started.user_switch, `setpriv ${SETPRIV}`, JSON.stringify(started));
      assert.equal(started.spawner, 'posix_spawn', 'a root superd starts its own handlers directly');
      // What makes the check worth making: superd itself holds an inheritable capability.
      assert.equal((await statusOf(d.pid)).CapInh, CAP_NET_BIND_SERVICE, "superd's own CapInh");
      assertNoCapabilities(await handlerOutput(port.caps_nobody ?? 0), 'user = nobody under a root superd');
    } finally {
      await d.stop();
    }
  });
});

describe('superd as nobody with ambient CAP_NET_BIND_SERVICE: its handlers get no capability, superd keeps its own', { timeout: 60000 }, () => {
  const dirs: string[] = [];
  after(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  test('the handler has no capability; superd still binds a port below 1024 on reload', async (t) => {
    const skip = cannotSwitch ?? unreachableByOthers();
    if (skip !== null) return t.skip(skip);
    const ids = NOBODY as { uid: number; gid: number };
    const launcher = [SETPRIV, `--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups', '--inh-caps=+net_bind_service', '--ambient-caps=+net_bind_service', '--'];
    // The kernel or a container may refuse the ambient set.
    const probe = await runProgram(launcher[0] ?? SETPRIV, [...launcher.slice(1), '/bin/grep', '^CapAmb', '/proc/self/status'], { env: ENV, timeoutMs: 10000 });
    if (probe.code !== 0 || capLines(probe.stdout).CapAmb !== CAP_NET_BIND_SERVICE) {
      return t.skip(`this host gives no ambient capability to nobody through setpriv: exit ${String(probe.code)}, ${probe.stdout.trim()} ${probe.stderr.trim()}`);
    }

    // A directory nobody owns: its services dir and control socket.
    const dir = await tempDir('superd-fault-trust-caps-');
    dirs.push(dir);
    const servicesDir = join(dir, 'services.d');
    await mkdir(servicesDir, { mode: 0o755 });
    const [port] = await freePorts(1);
    await writeFile(join(servicesDir, 'caps.conf'), serviceFile('caps', { bind: '127.0.0.1', port: port ?? 0, ...CAP_DUMP }), { mode: 0o644 });
    await chown(dir, ids.uid, ids.gid);
    await chown(servicesDir, ids.uid, ids.gid);

    const argv = [...launcher, process.execPath, SUPERD, 'run', '--services-dir', servicesDir, '--log-format', 'json', '--control-socket', join(dir, 'control.sock')];
    const proc = spawn(argv[0] ?? SETPRIV, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: ENV });
    const logs: LogRecord[] = [];
    const other: string[] = [];
    if (proc.stderr !== null) collectLog(proc.stderr, logs, other);
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const waitFor = async (pred: (r: LogRecord) => boolean, what: string): Promise<LogRecord> => {
      let found: LogRecord | undefined;
      const seen = await eventually(() => (found = logs.find(pred)) !== undefined || proc.exitCode !== null, 10000);
      if (!seen || found === undefined) throw new Error(`${what}: not seen (exit ${String(proc.exitCode)}); log:\n${[...logs.map((r) => JSON.stringify(r)), ...other].join('\n')}`);
      return found;
    };
    try {
      const started = await waitFor((r) => r.event === 'started', 'started');
      await waitFor((r) => r.event === 'listening' && r.service === 'caps', 'caps listening');
      assert.equal(started.spawner, `posix_spawn via setpriv ${SETPRIV} --inh-caps=-all --ambient-caps=-all`, JSON.stringify(started));
      assert.equal(started.user_switch, 'child_process', 'a superd that is not root switches no users');
      const own = await statusOf(proc.pid ?? 0);
      assert.equal(own.CapAmb, CAP_NET_BIND_SERVICE, "superd's own CapAmb");

      assertNoCapabilities(await handlerOutput(port ?? 0), 'a handler of a superd with ambient capabilities');
      const accepted = await waitFor((r) => r.event === 'accepted' && r.service === 'caps', 'accepted');
      const exitedLine = await waitFor((r) => r.event === 'exited' && r.pid === accepted.pid, 'exited');
      assert.equal(exitedLine.code, 0);

      // superd kept its ambient set: it binds a privileged port on reload.
      assert.equal((await statusOf(proc.pid ?? 0)).CapAmb, CAP_NET_BIND_SERVICE, "superd's CapAmb after starting handlers");
      const low = await freeLowPort();
      if (low === null) return t.skip('no free port below 1024 on 127.0.0.1 for the reload check');
      await writeFile(join(servicesDir, 'low.conf'), serviceFile('low', { bind: '127.0.0.1', port: low, ...CAP_DUMP }), { mode: 0o644 });
      proc.kill('SIGHUP');
      const bound = await waitFor((r) => (r.event === 'listening' || r.event === 'bind_failed') && r.service === 'low', 'low settled');
      assert.equal(bound.event, 'listening', JSON.stringify(bound));
      assertNoCapabilities(await handlerOutput(low), 'the handler on the privileged port');
    } finally {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(timer);
    }
  });
});

/** A port below 1024 free on 127.0.0.1 a moment ago (bound and closed here, as root), or null. */
async function freeLowPort(): Promise<number | null> {
  for (let tries = 0; tries < 50; tries++) {
    const port = 600 + Math.floor(Math.random() * 400);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  return null;
}
