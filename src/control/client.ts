// The control socket, the side of `superd status` and `superd reload`. An
// answer is believed only from our own user's or root's superd: the socket's
// directory is checked as the daemon checks it (path.ts), then the socket
// file's owner, then the uid of the process that accepted (SO_PEERCRED),
// which no one can forge by swapping files. Root believes any superd.
import { lstat } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { fail, ok, type Result, type SuperdError } from '../errors.js';
import { socketFd } from '../internals/descriptor.js';
import { strerror } from '../sys/errors.js';
import { loadSys } from '../sys/load.js';
import { checkControlDir, currentUid } from './path.js';
import { isDaemonStatus, isReloadReport, isUpgradeReport, type DaemonStatus, type ReloadReport, type UpgradeReport } from './status.js';

/** Far more than any status; a peer sending more is not superd. */
const MAX_ANSWER = 64 * 1024 * 1024;
export const STATUS_TIMEOUT_MS = 5000;
/** A reload reads every service file and binds new sockets; a bind that fails is retried later, not waited for. */
export const RELOAD_TIMEOUT_MS = 60000;
/** An upgrade tries the new image, then re-executes superd, which loads and binds as it starts. */
export const UPGRADE_TIMEOUT_MS = 60000;

const trusted = (uid: number): boolean => uid === currentUid() || uid === 0 || currentUid() === 0;

function unreachable(path: string, why: string): SuperdError {
  return { code: 'no_daemon', message: `cannot reach superd at ${path}: ${why} (see --control-socket)` };
}

function untrusted(path: string, why: string): SuperdError {
  return { code: 'untrusted', message: `refusing the answer at ${path}: ${why}, not by you (uid ${currentUid()}) or root` };
}

/** The socket file itself: there, a socket, and ours or root's. */
async function checkSocketFile(path: string): Promise<SuperdError | null> {
  const dir = await checkControlDir(path, { create: false });
  if (dir !== null) return dir.code === 'no_daemon' ? unreachable(path, dir.message) : dir;
  try {
    const st = await lstat(path);
    if (!st.isSocket()) return unreachable(path, 'it is not a socket');
    if (!trusted(st.uid)) return untrusted(path, `the socket is owned by uid ${st.uid}`);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return unreachable(path, e.code === 'ENOENT' ? 'no superd is running there' : e.message);
  }
  return null;
}

/** One connection: the request is sent, then answer lines are read one by one. */
export class ControlSession {
  private buffer = '';
  private lines: string[] = [];
  private ended: SuperdError | null = null;
  private wake: (() => void) | null = null;

  private constructor(
    private readonly conn: Socket,
    private readonly path: string,
  ) {
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      this.buffer += chunk;
      if (this.buffer.length > MAX_ANSWER) return this.stop(unreachable(path, `an answer of more than ${MAX_ANSWER} bytes`));
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        this.lines.push(this.buffer.slice(0, nl));
        this.buffer = this.buffer.slice(nl + 1);
      }
      this.wake?.();
    });
    conn.on('end', () => this.stop(unreachable(path, 'superd closed the connection without an answer')));
    conn.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'no superd is running there' : err.message;
      this.stop(unreachable(path, why));
    });
  }

  static async open(path: string, request: string): Promise<Result<ControlSession>> {
    const problem = await checkSocketFile(path);
    if (problem !== null) return fail(problem);
    const conn = createConnection(path);
    const session = new ControlSession(conn, path);
    const connected = await new Promise<SuperdError | null>((resolve) => {
      conn.once('connect', () => resolve(null));
      conn.once('error', () => resolve(session.ended ?? unreachable(path, 'cannot connect')));
    });
    if (connected !== null) return fail(connected);
    const peer = session.peerProblem();
    if (peer !== null) {
      session.close();
      return fail(peer);
    }
    conn.write(`${request}\n`);
    return ok(session);
  }

  /** The uid of the process that accepted: a file swapped in after our lstat cannot hide it. */
  private peerProblem(): SuperdError | null {
    const libc = loadSys();
    const fd = socketFd(this.conn);
    if (libc instanceof Error || fd === null) return null; // the file owner check stands alone
    const peer = libc.peerCredentials(fd);
    if (peer === null) return unreachable(this.path, `cannot tell who answers there: ${strerror(libc.errno())}`);
    return trusted(peer.uid) ? null : untrusted(this.path, `it is answered by a process of uid ${peer.uid} (pid ${peer.pid})`);
  }

  private stop(why: SuperdError): void {
    this.ended ??= why;
    this.conn.destroy();
    this.wake?.();
  }

  /** The next JSON line, parsed; or why there is none within timeoutMs. */
  async next(timeoutMs: number): Promise<Result<unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0 && this.ended === null) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.close();
        return fail(unreachable(this.path, `no answer within ${Math.round(timeoutMs / 1000)} s`));
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    const line = this.lines.shift();
    if (line === undefined) return fail(this.ended ?? unreachable(this.path, 'no answer'));
    try {
      const value = JSON.parse(line) as unknown;
      const error = (value as { error?: Partial<SuperdError> } | null)?.error;
      if (typeof error?.code === 'string' && typeof error.message === 'string') return fail({ code: error.code, message: error.message });
      return ok(value);
    } catch {
      return fail(unreachable(this.path, 'an answer that is not JSON'));
    }
  }

  close(): void {
    this.conn.destroy();
  }
}

async function ask<T>(path: string, request: string, timeoutMs: number, valid: (v: unknown) => v is T): Promise<Result<T>> {
  const opened = await ControlSession.open(path, request);
  if (!opened.ok) return opened;
  const answer = await opened.value.next(timeoutMs);
  opened.value.close();
  if (!answer.ok) return answer;
  return valid(answer.value) ? ok(answer.value) : fail(unreachable(path, 'an answer that is not what superd sends'));
}

export function queryStatus(path: string, timeoutMs = STATUS_TIMEOUT_MS): Promise<Result<DaemonStatus>> {
  return ask(path, 'status', timeoutMs, isDaemonStatus);
}

/** Starts a reload and waits for its outcome. */
export function requestReload(path: string, timeoutMs = RELOAD_TIMEOUT_MS): Promise<Result<ReloadReport>> {
  return ask(path, 'reload', timeoutMs, isReloadReport);
}

/** Asks the daemon to re-exec itself (src/upgrade/): the report comes from the new image, or the error from the old one. */
export function requestUpgrade(path: string, timeoutMs = UPGRADE_TIMEOUT_MS): Promise<Result<UpgradeReport>> {
  return ask(path, 'upgrade', timeoutMs, isUpgradeReport);
}

/**
 * Registers for the next reload's outcome before anything triggers it (a
 * SIGHUP sent after this resolves is sure to be reported): the daemon's pid,
 * and the wait for the report.
 */
export async function awaitReload(path: string): Promise<Result<{ pid: number; report(timeoutMs?: number): Promise<Result<ReloadReport>>; cancel(): void }>> {
  const opened = await ControlSession.open(path, 'await-reload');
  if (!opened.ok) return opened;
  const session = opened.value;
  const ack = await session.next(STATUS_TIMEOUT_MS);
  if (!ack.ok) return ack;
  const pid = (ack.value as { pid?: unknown } | null)?.pid;
  if (typeof pid !== 'number') {
    session.close();
    return fail(unreachable(path, 'an answer that is not what superd sends'));
  }
  const report = async (timeoutMs = RELOAD_TIMEOUT_MS): Promise<Result<ReloadReport>> => {
    const r = await session.next(timeoutMs);
    session.close();
    if (!r.ok) return r;
    return isReloadReport(r.value) ? ok(r.value) : fail(unreachable(path, 'an answer that is not what superd sends'));
  };
  return ok({ pid, report, cancel: () => session.close() });
}
