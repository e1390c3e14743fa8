// Issue 14, trust boundaries: the control socket (SPEC §1, §6). Its default
// place for a non-root superd is a directory only its user can enter; what is
// already at a --control-socket path is never deleted or taken over; and a
// client believes only its own user's or root's superd. The daemon runs for
// real (as another uid through setpriv where the test needs two users).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { defaultControlSocket } from '../src/control/path.js';
import { SUPERD, collectLog, tempDir, unreachableByOthers, type LogRecord } from './helpers/daemon.js';
import { runProgram } from './helpers/proc.js';
import { unixExchange } from './helpers/unix.js';
import { within } from './helpers/wait.js';

const isRoot = process.getuid?.() === 0;
const SETPRIV = '/usr/bin/setpriv';
const unreachable = isRoot ? unreachableByOthers() : null;
const canSwitch = isRoot && existsSync(SETPRIV) && unreachable === null;
const NEEDS_ROOT = unreachable ?? 'needs root and /usr/bin/setpriv: the test acts as two users';
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
const FORGED = 'FORGED-BY-ANOTHER-USER';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A uid no process and no /tmp/superd-UID uses, so tests never meet a real user's daemon. */
function freshUid(): number {
  for (;;) {
    const uid = 40000 + Math.floor(Math.random() * 20000);
    if (!existsSync(`/tmp/superd-${uid}`) && !existsSync(`/tmp/superd-${uid}.sock`)) {
      cleanups.push(() => rm(`/tmp/superd-${uid}`, { recursive: true, force: true }));
      cleanups.push(() => rm(`/tmp/superd-${uid}.sock`, { force: true }));
      return uid;
    }
  }
}

/** A scratch dir others may read (a switched superd reads its services dir there). */
async function scratch(): Promise<string> {
  const d = await tempDir('superd-fault-trust-');
  await chmod(d, 0o755);
  dirs.push(d);
  await mkdir(join(d, 'services.d'), { mode: 0o755 });
  return d;
}

function asUser(uid: number | undefined, argv: string[]): [string, string[]] {
  if (uid === undefined) return [argv[0] as string, argv.slice(1)];
  return [SETPRIV, [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', ...argv]];
}

interface Launched {
  proc: ChildProcess;
  logs: LogRecord[];
  waitFor(pred: (r: LogRecord) => boolean, what: string, ms?: number): Promise<LogRecord>;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `superd run` with JSON logs, as uid (or ourselves), under umask; stopped after the test. */
async function launch(dir: string, args: string[], opts: { uid?: number; umask?: string } = {}): Promise<Launched> {
  const superd = [process.execPath, SUPERD, 'run', '-d', join(dir, 'services.d'), '--log-format', 'json', ...args];
  const withUmask = opts.umask === undefined ? superd : ['/bin/sh', '-c', `umask ${opts.umask}; exec "$@"`, 'sh', ...superd];
  const [cmd, argv] = asUser(opts.uid, withUmask);
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: ENV });
  const logs: LogRecord[] = [];
  const other: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  if (proc.stderr !== null) collectLog(proc.stderr, logs, other);
  const stop = async (): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
    const r = await exited;
    clearTimeout(timer);
    return r;
  };
  cleanups.push(async () => void (await stop()));
  const waitFor = async (pred: (r: LogRecord) => boolean, what: string, ms = 10000): Promise<LogRecord> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = logs.find(pred);
      if (found !== undefined) return found;
      if (Date.now() > deadline || proc.exitCode !== null) {
        throw new Error(`${what}: not seen (exit ${proc.exitCode}); log:\n${[...logs.map((r) => JSON.stringify(r)), ...other].join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  await waitFor((r) => r.event === 'started', 'started');
  return { proc, logs, waitFor, stop };
}

/** A superd command line as uid, without XDG_RUNTIME_DIR, like a login without a session. */
function cli(uid: number | undefined, args: string[]): ReturnType<typeof runProgram> {
  const [cmd, argv] = asUser(uid, [process.execPath, SUPERD, ...args]);
  return runProgram(cmd, argv, { env: ENV, timeoutMs: 10000 });
}

/**
 * Another user's program answering every connection at each path with a
 * forged status, as uid; mkdirs (mode 0755) are made first, as that user.
 */
async function forger(uid: number, dirsToMake: string[], paths: string[]): Promise<void> {
  const forged = JSON.stringify({ pid: 1, startedAt: 'then', servicesDir: FORGED, services: [{ name: FORGED, address: 'x', listening: 'x', mode: 'nowait', handler: FORGED, running: 0, queued: 0, accepted: 0, failed: 0, refused: {} }] });
  const script = `
    const net = require('node:net'); const fs = require('node:fs');
    for (const d of ${JSON.stringify(dirsToMake)}) fs.mkdirSync(d, { mode: 0o755 });
    let n = 0; const paths = ${JSON.stringify(paths)};
    for (const p of paths) net.createServer((c) => { c.on('error', () => {}); c.end(${JSON.stringify(forged)} + '\\n'); })
      .listen(p, () => { fs.chmodSync(p, 0o777); if (++n === paths.length) process.stdout.write('ready\\n'); });
    setTimeout(() => process.exit(0), 60000);`;
  const [cmd, argv] = asUser(uid, [process.execPath, '-e', script]);
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'], env: ENV });
  cleanups.push(() => void proc.kill('SIGKILL'));
  await within(
    new Promise<void>((resolve, reject) => {
      proc.stdout?.setEncoding('utf8').on('data', (s: string) => s.includes('ready') && resolve());
      proc.once('exit', (code) => reject(new Error(`forger exited ${code}`)));
    }),
    10000,
    'the forger listening',
  );
}

/** A program of our own listening at path, answering `hello` to each connection. */
async function otherProgram(path: string): Promise<Server> {
  const server = createServer((c) => {
    c.on('error', () => undefined);
    c.end('hello from another program\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  cleanups.push(() => void server.close());
  return server;
}

describe('the default control socket (SPEC §1)', () => {
  test('root: /run/superd.sock; else $XDG_RUNTIME_DIR/superd.sock (absolute only); else /tmp/superd-UID/superd.sock', () => {
    assert.equal(defaultControlSocket({ XDG_RUNTIME_DIR: '/run/user/0' }, 0), '/run/superd.sock');
    assert.equal(defaultControlSocket({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000), '/run/user/1000/superd.sock');
    assert.equal(defaultControlSocket({ XDG_RUNTIME_DIR: 'relative/dir' }, 1000), '/tmp/superd-1000/superd.sock');
    assert.equal(defaultControlSocket({ XDG_RUNTIME_DIR: '' }, 1000), '/tmp/superd-1000/superd.sock');
    assert.equal(defaultControlSocket({}, 1000), '/tmp/superd-1000/superd.sock');
  });
});

describe('/tmp/superd-UID: private to its user, or refused', { timeout: 120000 }, () => {
  test('a user superd makes it (0700, its own, even under umask 0277) and `superd status` finds it there', async (t) => {
    if (!canSwitch) return t.skip(NEEDS_ROOT);
    const dir = await scratch();
    const uid = freshUid();
    const d = await launch(dir, [], { uid, umask: '0277' });
    const st = await lstat(`/tmp/superd-${uid}`);
    assert.ok(st.isDirectory());
    assert.equal(st.uid, uid);
    assert.equal((st.mode & 0o7777).toString(8), '700');
    const sock = await lstat(`/tmp/superd-${uid}/superd.sock`);
    assert.ok(sock.isSocket());
    assert.equal((sock.mode & 0o777).toString(8), '600', 'the socket answers only its user');
    const r = await cli(uid, ['status', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { pid: number }).pid, d.proc.pid, 'answered by this superd (setpriv execs it: same pid)');
    assert.ok(r.stdout.includes(join(dir, 'services.d')), r.stdout);
    assert.deepEqual(await d.stop(), { code: 0, signal: null });
    assert.equal(existsSync(`/tmp/superd-${uid}/superd.sock`), false, 'its socket is removed at exit');
  });

  test("another user's /tmp/superd-UID, serving forged answers: status refuses it, the daemon runs without it", async (t) => {
    if (!canSwitch) return t.skip(NEEDS_ROOT);
    const dir = await scratch();
    const uid = freshUid();
    const squatter = freshUid();
    // Both the old fixed name and the new directory are taken first.
    await forger(squatter, [`/tmp/superd-${uid}`], [`/tmp/superd-${uid}.sock`, `/tmp/superd-${uid}/superd.sock`]);
    const r = await cli(uid, ['status']);
    assert.equal(r.code, 1, `stdout: ${r.stdout}`);
    assert.ok(!r.stdout.includes(FORGED) && !r.stderr.includes(FORGED), `a forged answer was shown: ${r.stdout}`);
    assert.match(r.stderr, new RegExp(`/tmp/superd-${uid} is not a private directory of uid ${uid}: it is owned by uid ${squatter}`));

    const d = await launch(dir, [], { uid });
    const refused = await d.waitFor((x) => x.event === 'control_socket', 'control_socket refused');
    assert.match(String(refused.error), new RegExp(`owned by uid ${squatter}`));
    assert.equal(d.proc.exitCode, null, 'superd runs on without its control socket');
    assert.deepEqual(await d.stop(), { code: 0, signal: null });
    assert.ok(existsSync(`/tmp/superd-${uid}/superd.sock`), "the other user's socket is left alone");
  });

  test('its own directory with mode 0755, or a symlink to a private one: refused, saying what is wrong', async (t) => {
    if (!canSwitch) return t.skip(NEEDS_ROOT);
    const dir = await scratch();
    const uid = freshUid();
    const priv = `/tmp/superd-${uid}`;
    await mkdir(priv, { mode: 0o755 });
    await chmod(priv, 0o755);
    await chown(priv, uid, uid);
    let r = await cli(uid, ['status']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /its mode is 0755, not 0700/);
    const d = await launch(dir, [], { uid });
    assert.match(String((await d.waitFor((x) => x.event === 'control_socket', 'control_socket refused')).error), /its mode is 0755/);
    await d.stop();

    const target = join(dir, 'elsewhere');
    await mkdir(target, { mode: 0o700 });
    await chown(target, uid, uid);
    await rm(priv, { recursive: true });
    await symlink(target, priv);
    r = await cli(uid, ['status']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /it is a symbolic link/);
  });

  test("a socket in a shared directory, its file made to look ours, served by another user: refused by the peer's uid", async (t) => {
    if (!canSwitch) return t.skip(NEEDS_ROOT);
    const shared = join(await scratch(), 'shared');
    await mkdir(shared);
    await chmod(shared, 0o1777);
    const uid = freshUid();
    const other = freshUid();
    const path = join(shared, 'superd.sock');
    await forger(other, [], [path]);
    await chown(path, uid, uid);
    const r = await cli(uid, ['status', '--control-socket', path]);
    assert.equal(r.code, 1, `stdout: ${r.stdout}`);
    assert.ok(!r.stdout.includes(FORGED), `a forged answer was shown: ${r.stdout}`);
    assert.match(r.stderr, new RegExp(`answered by a process of uid ${other}`));
  });
});

describe('--control-socket where something already is', { timeout: 120000 }, () => {
  test('a regular file: left untouched; superd runs without a control socket and says why', async () => {
    const dir = await scratch();
    const path = join(dir, 'precious.txt');
    await writeFile(path, 'not a socket\n');
    const d = await launch(dir, ['--control-socket', path]);
    const why = await d.waitFor((r) => r.event === 'control_socket', 'control_socket warning');
    assert.match(String(why.error), /exists and is not a socket: left untouched/);
    assert.equal(await readFile(path, 'utf8'), 'not a socket\n');
    const r = await cli(undefined, ['status', '--control-socket', path]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /it is not a socket/);
    assert.deepEqual(await d.stop(), { code: 0, signal: null });
    assert.equal(await readFile(path, 'utf8'), 'not a socket\n', 'still there after exit');
  });

  test("another program's live socket: not taken over, and it still answers after superd stopped", async () => {
    const dir = await scratch();
    const path = join(dir, 'other.sock');
    await otherProgram(path);
    const d = await launch(dir, ['--control-socket', path]);
    const why = await d.waitFor((r) => r.event === 'control_socket', 'control_socket warning');
    assert.match(String(why.error), /another program is listening/);
    assert.deepEqual(await d.stop(), { code: 0, signal: null });
    assert.equal((await unixExchange(path, '')).data.toString(), 'hello from another program\n');
  });

  test('its own socket, replaced by another program meanwhile: left in place at exit', async () => {
    const dir = await scratch();
    const path = join(dir, 'control.sock');
    const d = await launch(dir, ['--control-socket', path]);
    const r = await cli(undefined, ['status', '--control-socket', path]);
    assert.equal(r.code, 0, r.stderr);
    await rename(path, `${path}.old`);
    await otherProgram(path);
    assert.deepEqual(await d.stop(), { code: 0, signal: null });
    assert.equal((await unixExchange(path, '')).data.toString(), 'hello from another program\n');
  });

  test('a stale socket (nobody listening) is replaced', async () => {
    const dir = await scratch();
    const path = join(dir, 'control.sock');
    // A program killed while listening leaves its socket file behind.
    const script = `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.stdout.write('ready\\n'))`;
    const holder = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await within(new Promise((resolve) => holder.stdout?.once('data', resolve)), 10000, 'the holder listening');
    holder.kill('SIGKILL');
    await within(new Promise((resolve) => holder.once('exit', resolve)), 15000, 'the holder killed');
    assert.ok((await lstat(path)).isSocket(), 'the stale file is there');
    const d = await launch(dir, ['--control-socket', path]);
    const r = await cli(undefined, ['status', '--control-socket', path]);
    assert.equal(r.code, 0, r.stderr);
    await d.stop();
  });
});
