// Starts the real bin/superd on loopback and watches its JSON log, so tests
// assert on what an operator would see. Every wait here is bounded.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile, unlink } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const SUPERD = join(ROOT, 'bin', 'superd');

export type LogRecord = Record<string, unknown> & { event: string; level: string; time: string };

/** A port that was free a moment ago (bind 0, read, close). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function tempDir(prefix = 'superd-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
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
}

export async function startDaemon(opts: StartOptions = {}): Promise<DaemonHandle> {
  const dir = await tempDir();
  const servicesDir = join(dir, 'services.d');
  await import('node:fs/promises').then((fs) => fs.mkdir(servicesDir, { mode: 0o755 }));
  for (const [file, content] of Object.entries(opts.services ?? {})) {
    await writeFile(join(servicesDir, file), content, { mode: 0o644 });
  }
  const pidFile = join(dir, 'superd.pid');
  const controlSocket = join(dir, 'control.sock');
  const superdArgv = [SUPERD, 'run', '--services-dir', servicesDir, '--log-format', 'json', '--pid-file', pidFile, '--control-socket', controlSocket, ...(opts.args ?? [])];
  const proc = spawn(
    opts.strayFd === true ? '/bin/sh' : process.execPath,
    opts.strayFd === true ? ['-c', 'exec 9</dev/null; exec "$@"', 'sh', process.execPath, ...superdArgv] : superdArgv,
    { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
  );
  const logs: LogRecord[] = [];
  const otherStderr: string[] = [];
  const waiters = new Set<() => void>();
  let pending = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as LogRecord);
      } catch {
        otherStderr.push(line);
      }
    }
    for (const w of waiters) w();
  });
  proc.stdout?.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => {
      for (const w of waiters) w();
      resolve({ code, signal });
    });
  });
  let exitedFlag = false;
  void exited.then(() => (exitedFlag = true));

  const waitForCount = (pred: (r: LogRecord) => boolean, count: number, what: string, timeoutMs = 10000): Promise<LogRecord[]> =>
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
    writeService: (file, content) => writeFile(join(servicesDir, file), content, { mode: 0o644 }),
    removeService: (file) => unlink(join(servicesDir, file)),
    async reload(timeoutMs = 10000) {
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
      await waitFor((r) => r.event === 'started', 'started');
    } catch (err) {
      // Never leave a daemon behind that no test holds a handle to: it would
      // keep the test process (and the whole run) alive forever.
      await handle.stop('SIGKILL', 5000);
      throw err;
    }
  }
  return handle;
}

function dump(logs: LogRecord[], other: string[]): string {
  return [...logs.map((r) => JSON.stringify(r)), ...other].slice(-40).join('\n');
}

export interface Exchange {
  data: Buffer;
  /** 'end' when the server closed cleanly, or the error code. */
  how: string;
}

/** Connects, sends `payload`, half-closes, and reads until the server closes. */
export function exchange(port: number, payload: Buffer | string, opts: { host?: string; timeoutMs?: number; halfClose?: boolean } = {}): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = createConnection({ port, host: opts.host ?? '127.0.0.1' });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no EOF from port ${port} within ${opts.timeoutMs ?? 10000} ms (got ${Buffer.concat(chunks).length} bytes)`));
    }, opts.timeoutMs ?? 10000);
    sock.on('connect', () => {
      if (opts.halfClose === false) sock.write(payload);
      else sock.end(payload);
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('end', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(chunks), how: 'end' });
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), how: err.code ?? err.message });
    });
  });
}

/** Number of open descriptors of a process. */
export async function fdCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

/** Children of pid by state letter (Z = zombie). */
export function childrenOf(pid: number): Promise<{ pid: number; state: string }[]> {
  return processesWhere((p) => p.ppid === pid);
}

/** Polls until cond() is true or the time is up; returns whether it became true. */
export async function eventually(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, stepMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** A service file body from key/values. */
export function serviceFile(name: string, keys: Record<string, string | number>): string {
  return `[${name}]\n${Object.entries(keys).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`;
}

// ---------------------------------------------------------------------------
// Additions for the reload, lifecycle and CLI tests.

/** The kernel's ephemeral port range (client sockets take their local port from it). */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo !== undefined && hi !== undefined && Number.isInteger(lo) && Number.isInteger(hi)) return [lo, hi];
  } catch {
    // Not Linux, or no /proc: assume the default.
  }
  return [32768, 60999];
}

function tryListen(port: number, host: string): Promise<import('node:net').Server | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(null));
    srv.listen(port, host, () => resolve(srv));
  });
}

/**
 * `count` distinct ports that were free a moment ago (all held open until
 * every one is known). They are picked at random below the kernel's ephemeral
 * range: the thousands of client connections of tests running in parallel
 * take their local ports from that range, and one of them could otherwise
 * take a port between this call and superd's bind.
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const [ephemeralLow] = ephemeralRange();
  const low = 10000;
  const high = ephemeralLow - 1;
  const servers: import('node:net').Server[] = [];
  const ports: number[] = [];
  try {
    for (let tries = 0; ports.length < count && tries < count * 50; tries++) {
      const port = high > low + 1000 ? low + Math.floor(Math.random() * (high - low)) : 0;
      if (port !== 0 && ports.includes(port)) continue;
      const srv = await tryListen(port, host);
      if (srv === null) continue;
      const addr = srv.address();
      servers.push(srv);
      ports.push(typeof addr === 'object' && addr !== null ? addr.port : 0);
    }
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
  if (ports.length < count) throw new Error(`could not find ${count} free ports on ${host}`);
  return ports;
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
    }, opts.timeoutMs ?? 10000);
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

/** 'connected' when a TCP connection could be opened (it is closed again at once), else the error code. */
export function tryConnect(port: number, host = '127.0.0.1', timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve('ETIMEDOUT');
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve('connected');
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
  });
}

/** A client connection kept open across whatever the test does to superd. */
export interface HeldConnection {
  socket: import('node:net').Socket;
  /** Everything received so far. */
  received(): Buffer;
  /** Resolves once the bytes received contain `text` (bounded). */
  waitForData(text: string, timeoutMs?: number): Promise<void>;
  send(data: string | Buffer): void;
  /** 'end' once the server closed its side, or the error code. */
  closed: Promise<string>;
  destroy(): void;
}

/** Opens a connection and resolves once it is connected; rejects on error or timeout. */
export function holdConnection(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<HeldConnection> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const listeners = new Set<() => void>();
    const sock = createConnection({ port, host });
    let closedResolve: (how: string) => void = () => undefined;
    const closed = new Promise<string>((r) => (closedResolve = r));
    let isClosed = false;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`could not connect to ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      for (const l of listeners) l();
    });
    sock.on('end', () => {
      isClosed = true;
      closedResolve('end');
      for (const l of listeners) l();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      isClosed = true;
      closedResolve(err.code ?? err.message);
      for (const l of listeners) l();
      reject(err);
    });
    sock.on('close', () => {
      isClosed = true;
      closedResolve('closed');
      for (const l of listeners) l();
    });
    const received = (): Buffer => Buffer.concat(chunks);
    sock.once('connect', () => {
      clearTimeout(timer);
      resolve({
        socket: sock,
        received,
        closed,
        send: (data) => void sock.write(data),
        destroy: () => sock.destroy(),
        waitForData: (text, waitMs = 5000) =>
          new Promise<void>((res, rej) => {
            const check = (): boolean => {
              if (received().includes(text)) {
                done();
                res();
                return true;
              }
              if (isClosed) {
                done();
                rej(new Error(`connection closed before ${JSON.stringify(text)} arrived; got ${JSON.stringify(received().toString())}`));
                return true;
              }
              return false;
            };
            const t = setTimeout(() => {
              done();
              rej(new Error(`no ${JSON.stringify(text)} within ${waitMs} ms; got ${JSON.stringify(received().toString())}`));
            }, waitMs);
            const done = (): void => {
              clearTimeout(t);
              listeners.delete(onData);
            };
            const onData = (): void => void check();
            if (!check()) listeners.add(onData);
          }),
      });
    });
  });
}

/** Whether a process (or, with a negative pid, a process group) exists. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------
// Helpers for the serve-* and inetd-programs tests: a client that can hold a
// connection open, a bounded child-process runner, /proc readers.

/** Rejects with a clear message if `p` has not settled within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export interface Client {
  /** The client side's own port: what superd logs as remote_port. */
  localPort: number;
  /** Everything received so far. */
  received(): Buffer;
  write(data: Buffer | string): void;
  /** Half-close (FIN), optionally after a last write. */
  end(data?: Buffer | string): void;
  destroy(): void;
  /** Resolves once at least `bytes` bytes arrived (or rejects on timeout / close before). */
  waitForBytes(bytes: number, timeoutMs?: number): Promise<Buffer>;
  /** Resolves with 'end' (server FIN) or the error code once the server closed; rejects on timeout. */
  waitClosed(timeoutMs?: number): Promise<string>;
  /** How the connection ended so far, or null while it is open. */
  closedHow(): string | null;
}

/** Connects (bounded) and collects what the server sends; the caller decides when to write and end. */
export function connectClient(port: number, opts: { host?: string; timeoutMs?: number } = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let how: string | null = null;
    const notify = new Set<() => void>();
    const sock = createConnection({ port, host: opts.host ?? '127.0.0.1' });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`could not connect to port ${port} within ${opts.timeoutMs ?? 5000} ms`));
    }, opts.timeoutMs ?? 5000);
    const settle = (h: string): void => {
      if (how === null) how = h;
      for (const n of notify) n();
    };
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      for (const n of notify) n();
    });
    sock.on('end', () => {
      settle('end');
      sock.destroy();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (how === null && sock.localPort === undefined) {
        reject(err);
        return;
      }
      settle(err.code ?? err.message);
    });
    sock.on('close', () => settle('close'));
    const waitUntil = <T>(cond: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> =>
      new Promise<T>((res, rej) => {
        const check = (): boolean => {
          let v: T | undefined;
          try {
            v = cond();
          } catch (e) {
            done();
            rej(e instanceof Error ? e : new Error(String(e)));
            return true;
          }
          if (v !== undefined) {
            done();
            res(v);
            return true;
          }
          return false;
        };
        const t = setTimeout(() => {
          done();
          rej(new Error(`timed out after ${timeoutMs} ms: ${what()}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(t);
          notify.delete(onEvent);
        };
        const onEvent = (): void => void check();
        if (!check()) notify.add(onEvent);
      });
    sock.on('connect', () => {
      clearTimeout(timer);
      const client: Client = {
        localPort: sock.localPort ?? 0,
        received: () => Buffer.concat(chunks),
        write: (d) => void sock.write(d),
        end: (d) => void (d === undefined ? sock.end() : sock.end(d)),
        destroy: () => sock.destroy(),
        waitForBytes: (bytes, timeoutMs = 5000) =>
          waitUntil(
            () => {
              if (size >= bytes) return Buffer.concat(chunks);
              if (how !== null) throw new Error(`connection closed (${how}) after ${size} of ${bytes} bytes: ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 200))}`);
              return undefined;
            },
            timeoutMs,
            () => `waiting for ${bytes} bytes on port ${port}, got ${size}: ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 200))}`,
          ),
        waitClosed: (timeoutMs = 5000) =>
          waitUntil(() => how ?? undefined, timeoutMs, () => `waiting for the server to close the connection on port ${port} (got ${size} bytes)`),
        closedHow: () => how,
      };
      resolve(client);
    });
  });
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion; kills it (SIGKILL) and rejects past timeoutMs. */
export function runProgram(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (c: string) => (stdout += c));
    child.stderr?.on('data', (c: string) => (stderr += c));
    const ms = opts.timeoutMs ?? 15000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${ms} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, ms);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Whether this host can listen and connect on ::1. */
export function hasIPv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(0, '::1', () => srv.close(() => resolve(true)));
  });
}

export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
}

/** Parses the text of /proc/PID/stat. */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).trim().split(' ');
  return {
    pid: Number(text.slice(0, open).trim()),
    state: rest[0] ?? '?',
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    session: Number(rest[3]),
  };
}

export async function procStat(pid: number): Promise<ProcStat> {
  return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
}

/** The processes of a process group, with their state letters (Z = zombie). */
export function processGroup(pgid: number): Promise<{ pid: number; state: string }[]> {
  return processesWhere((p) => p.pgrp === pgid);
}

/** Every process in /proc that matches, read from its stat line. */
async function processesWhere(match: (p: ProcStat) => boolean): Promise<{ pid: number; state: string }[]> {
  const out: { pid: number; state: string }[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const p = parseProcStat(await readFile(`/proc/${name}/stat`, 'utf8'));
      if (match(p)) out.push({ pid: p.pid, state: p.state });
    } catch {
      // The process went away while we looked.
    }
  }
  return out;
}

/** Rejects when `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
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
 */
export async function startServices(
  defs: Record<string, Record<string, string | number>>,
  opts: StartOptions & { attempts?: number; timeoutMs?: number } = {},
): Promise<Served> {
  const names = Object.keys(defs);
  const attempts = opts.attempts ?? 4;
  let lastError: Error | null = null;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const ports = await freePorts(names.length);
    const port: Record<string, number> = {};
    const services: Record<string, string> = { ...(opts.services ?? {}) };
    for (const [i, name] of names.entries()) {
      port[name] = ports[i] ?? 0;
      services[`${name}.conf`] = serviceFile(name, { ...defs[name], port: port[name] ?? 0 });
    }
    const d = await startDaemon({ ...opts, services });
    const settled = (r: LogRecord): boolean =>
      (r.event === 'listening' || r.event === 'bind_failed') && typeof r.service === 'string' && names.includes(r.service);
    let recs: LogRecord[];
    try {
      recs = await d.waitForCount(settled, names.length, 'every service listening', opts.timeoutMs ?? 10000);
    } catch (err) {
      await d.stop();
      throw err;
    }
    const failed = recs.filter((r) => r.event === 'bind_failed');
    if (failed.length === 0) return { d, port };
    lastError = new Error(`attempt ${attempt}: bind_failed: ${failed.map((r) => JSON.stringify(r)).join('\n')}`);
    await d.stop();
  }
  throw lastError ?? new Error('startServices failed');
}
