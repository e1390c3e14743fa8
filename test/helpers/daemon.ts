// Starts the real bin/superd on loopback and watches its JSON log, so tests
// assert on what an operator would see; writes service files, reads log
// files, runs the superd command line and reads `superd status`, makes
// scratch directories. Every wait here is bounded.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, afterEach, before } from 'node:test';
import type { DaemonStatus, ServiceStatus } from '../../src/control/status.js';
import { exchange, freePorts, holdConnection, type HeldConnection } from './clients.js';
import { within } from './wait.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const SUPERD = join(ROOT, 'bin', 'superd');

/**
 * Why another user could not run this checkout's bin/superd, or null: a
 * directory above it without search permission for others (a clone made in
 * a `mktemp -d` directory, mode 0700). Tests that run superd as another user
 * skip then, saying so.
 */
export function unreachableByOthers(): string | null {
  for (let dir = ROOT; ; dir = dirname(dir)) {
    const mode = statSync(dir).mode & 0o777;
    if ((mode & 0o001) === 0) return `other users cannot reach this checkout: ${dir} has mode ${mode.toString(8)}`;
    if (dir === dirname(dir)) return null;
  }
}

export type LogRecord = Record<string, unknown> & { event: string; level: string; time: string };

/**
 * How long a wait for superd's log, a reload or a CLI run may take before it
 * fails, unless the caller says otherwise. Only there to fail fast, so
 * generous: on a loaded host Node alone takes seconds to start superd or its
 * command line.
 */
export const WAIT_MS = 30000;

export async function tempDir(prefix = 'superd-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * A maker of temporary directories (tempDir), each removed after the tests
 * of the file (or of the describe it is called in), whatever they did.
 */
export function scratchDirs(prefix: string): () => Promise<string> {
  const made: string[] = [];
  after(async () => {
    await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });
  return async () => {
    const d = await tempDir(prefix);
    made.push(d);
    return d;
  };
}

export interface DaemonHandle {
  proc: ChildProcess;
  pid: number;
  dir: string;
  servicesDir: string;
  pidFile: string;
  controlSocket: string;
  logs: LogRecord[];
  /** Non-JSON lines superd wrote to stderr. */
  otherStderr: string[];
  /** Resolves with the first record (seen so far or later) matching pred. */
  waitFor(pred: (r: LogRecord) => boolean, what: string, timeoutMs?: number): Promise<LogRecord>;
  /** Resolves once `count` records match. */
  waitForCount(pred: (r: LogRecord) => boolean, count: number, what: string, timeoutMs?: number): Promise<LogRecord[]>;
  writeService(file: string, content: string): Promise<void>;
  removeService(file: string): Promise<void>;
  /** SIGHUP and wait for the next `reload` summary. */
  reload(timeoutMs?: number): Promise<LogRecord>;
  /** SIGTERM (or another signal) and wait for exit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Resolves once superd's stderr has closed (bounded): after it exited,
   * every line it ever wrote is in `logs`, so a line that never came never
   * will. Rejects if the pipe stays open (a process that kept it).
   */
  logComplete(): Promise<void>;
}

export interface StartOptions {
  services?: Record<string, string>;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Wait for `started` (default true). */
  waitStarted?: boolean;
  /**
   * superd inherits a stray descriptor (fd 9, /dev/null, no close-on-exec), as
   * from a careless parent: it must never reach a handler. superd is then
   * started through `/bin/sh -c 'exec 9</dev/null; exec …'` (same pid).
   */
  strayFd?: boolean;
  /** A program that execs the rest of its command line, with its arguments (`nice -n 5`, `chrt --batch 0`): superd keeps its pid. */
  launcher?: string[];
  /** Descriptors superd gets as fd 3, 4… (socket activation's LISTEN_FDS). */
  passFds?: number[];
}

export async function startDaemon(opts: StartOptions = {}): Promise<DaemonHandle> {
  const dir = await tempDir();
  const servicesDir = join(dir, 'services.d');
  await mkdir(servicesDir, { mode: 0o755 });
  for (const [file, content] of Object.entries(opts.services ?? {})) {
    await writeFile(join(servicesDir, file), content, { mode: 0o644 });
  }
  const pidFile = join(dir, 'superd.pid');
  const controlSocket = join(dir, 'control.sock');
  const superdArgv = [SUPERD, 'run', '--services-dir', servicesDir, '--log-format', 'json', '--pid-file', pidFile, '--control-socket', controlSocket, ...(opts.args ?? [])];
  const command = [...(opts.launcher ?? []), process.execPath, ...superdArgv];
  const proc = spawn(
    opts.strayFd === true ? '/bin/sh' : (command[0] ?? process.execPath),
    opts.strayFd === true ? ['-c', 'exec 9</dev/null; exec "$@"', 'sh', ...command] : command.slice(1),
    { stdio: ['ignore', 'pipe', 'pipe', ...(opts.passFds ?? [])], env: opts.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
  );
  const logs: LogRecord[] = [];
  const otherStderr: string[] = [];
  const waiters = new Set<() => void>();
  const notify = (): void => waiters.forEach((w) => w());
  if (proc.stderr !== null) collectLog(proc.stderr, logs, otherStderr, notify);
  proc.stdout?.resume();
  const stderrClosed = new Promise<void>((resolve) => {
    if (proc.stderr === null) resolve();
    else proc.stderr.once('close', () => resolve());
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => {
      for (const w of waiters) w();
      resolve({ code, signal });
    });
  });
  let exitedFlag = false;
  void exited.then(() => (exitedFlag = true));

  const waitForCount = (pred: (r: LogRecord) => boolean, count: number, what: string, timeoutMs = WAIT_MS): Promise<LogRecord[]> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = logs.filter(pred);
        if (found.length >= count) {
          cleanup();
          resolve(found);
          return true;
        }
        if (exitedFlag) {
          cleanup();
          reject(new Error(`superd exited while waiting for ${what}; log:\n${dump(logs, otherStderr)}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; log:\n${dump(logs, otherStderr)}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(onData);
      };
      const onData = (): void => void check();
      if (!check()) waiters.add(onData);
    });
  const waitFor = async (pred: (r: LogRecord) => boolean, what: string, timeoutMs?: number): Promise<LogRecord> => {
    const found = await waitForCount(pred, 1, what, timeoutMs);
    return found[0] as LogRecord;
  };

  const handle: DaemonHandle = {
    proc,
    pid: proc.pid ?? 0,
    dir,
    servicesDir,
    pidFile,
    controlSocket,
    logs,
    otherStderr,
    waitFor,
    waitForCount,
    exited,
    logComplete: () => within(stderrClosed, WAIT_MS, "superd's stderr closed"),
    writeService: (file, content) => writeFile(join(servicesDir, file), content, { mode: 0o644 }),
    removeService: (file) => unlink(join(servicesDir, file)),
    async reload(timeoutMs = WAIT_MS) {
      const before = logs.filter((r) => r.event === 'reload').length;
      proc.kill('SIGHUP');
      const all = await waitForCount((r) => r.event === 'reload', before + 1, 'reload summary', timeoutMs);
      return all[before] as LogRecord;
    },
    async stop(signal = 'SIGTERM', timeoutMs = 20000) {
      if (!exitedFlag) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      return result;
    },
  };
  if (opts.waitStarted !== false) {
    try {
      // Bounded to fail fast, not to time the start: a loaded host (or a superd under nice) takes seconds.
      await waitFor((r) => r.event === 'started', 'started', 30000);
    } catch (err) {
      // Never leave a daemon behind that no test holds a handle to: it would
      // keep the test process (and the whole run) alive forever.
      await handle.stop('SIGKILL', 5000);
      throw err;
    }
  }
  return handle;
}

/**
 * Reads superd's stderr with --log-format json: each line a record in `logs`,
 * anything else (a startup message) in `other`; `changed` after each chunk.
 */
export function collectLog(stream: Readable, logs: LogRecord[], other: string[], changed: () => void = () => undefined): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as LogRecord);
      } catch {
        other.push(line);
      }
    }
    changed();
  });
}

function dump(logs: LogRecord[], other: string[]): string {
  return [...logs.map((r) => JSON.stringify(r)), ...other].slice(-40).join('\n');
}

/** A service file body from key/values. */
export function serviceFile(name: string, keys: Record<string, string | number>): string {
  return `[${name}]\n${Object.entries(keys).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`;
}

export interface CliResult {
  /** null when the process was killed (by the timeout or otherwise). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs `node bin/superd ARGS` to completion (killed with SIGKILL after timeoutMs). */
export function runSuperd(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SUPERD, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      cwd: opts.cwd ?? ROOT,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? WAIT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

export interface StatusResult {
  code: number | null;
  /** What `--json` printed, when the command exited 0; else null. */
  value: DaemonStatus | null;
  stderr: string;
}

/** `superd status [ARGS] --json` from the daemon at controlSocket, whatever its exit code. */
export async function statusCommand(controlSocket: string, args: string[] = []): Promise<StatusResult> {
  const r = await runSuperd(['status', ...args, '--json', '--control-socket', controlSocket]);
  return { code: r.code, value: r.code === 0 ? (JSON.parse(r.stdout) as DaemonStatus) : null, stderr: r.stderr };
}

/** `superd status --json` from the daemon at controlSocket; fails the test when the command does. */
export async function daemonStatus(controlSocket: string): Promise<DaemonStatus> {
  const r = await statusCommand(controlSocket);
  assert.equal(r.code, 0, `superd status: ${r.stderr}`);
  return r.value ?? assert.fail('superd status printed nothing');
}

/** One service's entry in `superd status --json`; fails the test when it is not there. */
export async function serviceStatus(d: DaemonHandle, service: string): Promise<ServiceStatus> {
  const st = await daemonStatus(d.controlSocket);
  return st.services.find((s) => s.name === service) ?? assert.fail(`no ${service} in superd status`);
}

/** The JSON records of a log file written with --log-format json (unparsable lines are skipped). */
export async function readJsonLog(file: string): Promise<LogRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  const out: LogRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as LogRecord);
    } catch {
      // A line being written right now.
    }
  }
  return out;
}

export interface Served {
  d: DaemonHandle;
  /** service name -> the port it listens on */
  port: Record<string, number>;
}

/**
 * Starts superd with one file per service (`NAME.conf`), each on a fresh port,
 * and waits until every service is listening. Test files run in parallel and
 * open thousands of client connections, whose ephemeral ports come from the
 * same range as freePorts(): if a port was taken before superd could bind it
 * (bind_failed), the daemon is stopped and started again on new ports.
 *
 * Ports are free for tcp and udp alike (a builtin or udp service may take
 * either), and on the wildcard unless every service binds 127.0.0.1. A
 * `protocol = unix` service gets no port (its def names its `path`) and no
 * entry in `port`; it is still waited for. Services named in `allowBindFailed`
 * (a test of a socket that cannot be bound) may end in bind_failed instead.
 */
export async function startServices(
  defs: Record<string, Record<string, string | number>>,
  opts: StartOptions & { attempts?: number; timeoutMs?: number; allowBindFailed?: string[] } = {},
): Promise<Served> {
  const names = Object.keys(defs);
  const networked = names.filter((n) => String(defs[n]?.protocol ?? 'tcp') !== 'unix');
  // A service without `bind` listens on every address: its port must be free on all of them.
  const host = networked.every((n) => defs[n]?.bind === '127.0.0.1') ? '127.0.0.1' : '::';
  const attempts = opts.attempts ?? 4;
  let lastError: Error | null = null;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const ports = networked.length > 0 ? await freePorts(networked.length, host, { udp: true }) : [];
    const port: Record<string, number> = {};
    const services: Record<string, string> = { ...(opts.services ?? {}) };
    for (const name of names) {
      const i = networked.indexOf(name);
      if (i < 0) {
        services[`${name}.conf`] = serviceFile(name, { ...defs[name] });
        continue;
      }
      port[name] = ports[i] ?? 0;
      services[`${name}.conf`] = serviceFile(name, { ...defs[name], port: port[name] ?? 0 });
    }
    const d = await startDaemon({ ...opts, services });
    const settled = (r: LogRecord): boolean =>
      (r.event === 'listening' || r.event === 'bind_failed') && typeof r.service === 'string' && names.includes(r.service);
    let recs: LogRecord[];
    try {
      recs = await d.waitForCount(settled, names.length, 'every service listening', opts.timeoutMs ?? WAIT_MS);
    } catch (err) {
      await d.stop();
      throw err;
    }
    const allowed = opts.allowBindFailed ?? [];
    const failed = recs.filter((r) => r.event === 'bind_failed' && !allowed.includes(r.service as string));
    if (failed.length === 0) return { d, port };
    lastError = new Error(`attempt ${attempt}: bind_failed: ${failed.map((r) => JSON.stringify(r)).join('\n')}`);
    await d.stop();
    // New ports cannot help a unix socket: its path stays the same.
    if (failed.every((r) => !networked.includes(r.service as string))) break;
  }
  throw lastError ?? new Error('startServices failed');
}

/**
 * superd for the tests of the describe it is called in: started with
 * startServices(defs, opts) before them, stopped after them whatever they
 * did. Its `d` and `port` are there once the tests run.
 */
export function servicesForSuite(
  defs: Record<string, Record<string, string | number>>,
  opts: Parameters<typeof startServices>[1] = {},
): { readonly d: DaemonHandle; readonly port: Record<string, number> } {
  let served: Served | null = null;
  before(async () => {
    served = await startServices(defs, opts);
  });
  after(async () => {
    await served?.d.stop();
  });
  return {
    get d(): DaemonHandle {
      return served?.d ?? assert.fail('superd did not start: see the before hook');
    },
    get port(): Record<string, number> {
      return served?.port ?? {};
    },
  };
}

/**
 * Daemons and held client connections for the tests of the file (or
 * describe) it is called in: each is stopped (with `stopSignal`) or closed
 * after the test that made it, whatever the test did. A daemon the test
 * stopped itself is left as it is. `args` go before each daemon's own.
 */
export function perTest(opts: { stopSignal?: NodeJS.Signals; args?: string[] } = {}): {
  daemon(start?: StartOptions): Promise<DaemonHandle>;
  hold(port: number): Promise<HeldConnection>;
} {
  const daemons: DaemonHandle[] = [];
  const held: HeldConnection[] = [];
  afterEach(async () => {
    for (const c of held.splice(0)) c.destroy();
    await Promise.all(daemons.splice(0).map((d) => d.stop(opts.stopSignal)));
  });
  return {
    async daemon(start: StartOptions = {}) {
      const d = await startDaemon({ ...start, args: [...(opts.args ?? []), ...(start.args ?? [])] });
      daemons.push(d);
      return d;
    },
    async hold(port) {
      const c = await holdConnection(port);
      held.push(c);
      return c;
    },
  };
}

/** superd is alive and a `/bin/cat` service on `port` echoes a line: what every fault test ends with. */
export async function assertStillServes(d: DaemonHandle, port: number): Promise<void> {
  const r = await exchange(port, 'still serving\n');
  assert.equal(r.how, 'end');
  assert.equal(r.data.toString(), 'still serving\n');
  assert.equal(d.proc.exitCode, null, 'superd is still running');
}
