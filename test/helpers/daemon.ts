// Starts the real bin/superd on loopback and watches its JSON log, so tests
// assert on what an operator would see. Every wait here is bounded.
import { spawn, type ChildProcess } from 'node:child_process';
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
  const proc = spawn(
    process.execPath,
    [SUPERD, 'run', '--services-dir', servicesDir, '--log-format', 'json', '--pid-file', pidFile, '--control-socket', controlSocket, ...(opts.args ?? [])],
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
  if (opts.waitStarted !== false) await waitFor((r) => r.event === 'started', 'started');
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
export async function childrenOf(pid: number): Promise<{ pid: number; state: string }[]> {
  const out: { pid: number; state: string }[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === pid) out.push({ pid: Number(name), state: rest[0] ?? '?' });
    } catch {
      // The process went away while we looked.
    }
  }
  return out;
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
