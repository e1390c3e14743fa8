// The control socket (SPEC §6), the daemon's side. One request per
// connection, one line, a bare word or JSON ({"request":"reload"}):
//   `status`, or nothing before EOF → the DaemonStatus, one JSON line
//   `reload`        → starts a reload; its ReloadReport once it is done
//   `await-reload`  → {"waiting":true,"pid":N} at once, then the ReloadReport
//                     of the next reload to start (`superd reload --pid-file`
//                     asks this before its SIGHUP)
// Errors are {"error":{"code","message"}}. Mode 0600, and the peer's uid is
// checked too: only superd's own user and root are answered.
//
// Only one superd runs per control socket (SPEC §5): a superd of our user or
// root already answering at the path makes serveControl fail with
// `superd_running`, for `superd run` to exit before it binds anything.
import { lstat } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { SuperdError } from '../errors.js';
import { socketFd } from '../internals/descriptor.js';
import { clearStaleSocket, placeUnixSocket, removeOwnSocket } from '../listen/unixpath.js';
import type { Logger } from '../log/types.js';
import { loadSys } from '../sys/load.js';
import { checkControlDir, currentUid } from './path.js';
import { isDaemonStatus, type DaemonStatus, type ReloadReport } from './status.js';
import { errorMessage } from '../errors.js';

/** A request line longer than this is not one of ours. */
const MAX_REQUEST = 4096;
/** A client that connects and says nothing is dropped after this. */
const REQUEST_TIMEOUT_MS = 5000;
/** Status and reload clients at once; past it Node closes new connections at once. */
const MAX_CONNECTIONS = 32;
/** How long a superd found at our control socket gets to answer `status` (`superd status` waits as long). */
const RUNNING_STATUS_TIMEOUT_MS = 5000;
/** Far more than any status: a peer that sends more is not superd. */
const MAX_STATUS_ANSWER = 64 * 1024 * 1024;

export interface ControlHandlers {
  status(): DaemonStatus;
  /** Absent: this daemon cannot reload over its socket (clients then send SIGHUP). */
  reload?: {
    /** The outcome of the first reload that starts after this call, or why none will (shutdown). */
    next(): Promise<ReloadReport | SuperdError>;
    /** Asks for a reload, as SIGHUP does. */
    request(): void;
  };
  logger?: Logger;
}

export class ControlError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Placed {
  identity: { dev: number; ino: number };
  connections: Set<Socket>;
}

const placed = new WeakMap<Server, Placed>();

type Request = 'status' | 'reload' | 'await-reload';

function parseRequest(line: string): Request | SuperdError {
  let word = line.trim();
  if (word.startsWith('{')) {
    try {
      const request = (JSON.parse(word) as { request?: unknown }).request;
      word = typeof request === 'string' ? request : '';
    } catch {
      return { code: 'bad_request', message: 'the request is not valid JSON' };
    }
  }
  if (word === '' || word === 'status') return 'status';
  if (word === 'reload' || word === 'await-reload') return word;
  return { code: 'unknown_request', message: `unknown request '${word.slice(0, 40)}': expected status, reload or await-reload` };
}

/** Whether the peer is our own user or root (the peer may be answered, or believed). Null when it cannot be told. */
function trustedPeer(conn: Socket): boolean | null {
  const libc = loadSys();
  const fd = socketFd(conn);
  if (libc instanceof Error || fd === null) return null;
  const peer = libc.peerCredentials(fd);
  return peer === null ? null : peer.uid === currentUid() || peer.uid === 0;
}

function send(conn: Socket, value: unknown, last: boolean): void {
  const line = `${JSON.stringify(value)}\n`;
  if (last) conn.end(line);
  else conn.write(line);
}

async function answer(conn: Socket, request: Request | SuperdError, h: ControlHandlers): Promise<void> {
  if (typeof request !== 'string') return send(conn, { error: request }, true);
  if (request === 'status') return send(conn, h.status(), true);
  if (h.reload === undefined) {
    return send(conn, { error: { code: 'unsupported', message: 'this superd does not report reloads over its control socket; send it SIGHUP' } }, true);
  }
  const next = h.reload.next();
  if (request === 'reload') h.reload.request();
  else send(conn, { waiting: true, pid: process.pid }, false);
  const outcome = await next;
  send(conn, 'code' in outcome ? { error: outcome } : outcome, true);
}

function serve(conn: Socket, h: ControlHandlers): void {
  conn.on('error', () => undefined);
  if (trustedPeer(conn) === false) {
    conn.destroy();
    return;
  }
  let text = '';
  let handled = false;
  const handle = (request: Request | SuperdError): void => {
    if (handled) return;
    handled = true;
    conn.setTimeout(0);
    conn.removeAllListeners('data');
    conn.resume(); // whatever else it sends is read and dropped
    void answer(conn, request, h).catch((err: unknown) => {
      send(conn, { error: { code: 'internal', message: errorMessage(err) } }, true);
    });
  };
  conn.setTimeout(REQUEST_TIMEOUT_MS, () => conn.destroy());
  conn.setEncoding('utf8');
  conn.on('data', (chunk: string) => {
    text += chunk;
    const nl = text.indexOf('\n');
    if (nl >= 0) handle(parseRequest(text.slice(0, nl)));
    else if (text.length > MAX_REQUEST) handle({ code: 'bad_request', message: `no request line within ${MAX_REQUEST} bytes` });
  });
  // A client that sends nothing and half-closes (a probe, `nc -U < /dev/null`) asks for the status.
  conn.on('end', () => handle(parseRequest(text)));
}

/**
 * Accept errors (ENFILE, ENOBUFS, EMFILE when libuv's spare descriptor is
 * gone) come to the server's 'error' event, one per failed accept, for as
 * long as superd runs: without a listener the first would end superd. One
 * line per episode, and one when connections are accepted again.
 */
function logAcceptErrors(server: Server, path: string, logger: Logger | undefined): void {
  let failed = 0;
  server.on('error', (err: Error) => {
    failed += 1;
    if (failed === 1) {
      logger?.log('error', 'control_socket', { path, error: `accept: ${err.message}`, message: 'superd keeps serving; `superd status` and `superd reload` may fail until this passes' });
    }
  });
  server.on('connection', () => {
    if (failed === 0) return;
    logger?.log('info', 'control_socket', { path, errors: failed, message: 'accepting again' });
    failed = 0;
  });
}

function listenAt(server: Server, where: string): Promise<Server | SuperdError> {
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException): void => resolve({ code: err.code ?? 'EIO', message: `cannot listen on ${where}: ${err.message}` });
    server.once('error', onError);
    server.listen(where, () => {
      server.removeListener('error', onError);
      resolve(server);
    });
  });
}

/**
 * The pid of a superd answering at path, or null: nobody, another program,
 * a process of another user (a socket in a shared directory must not keep
 * superd from starting), or no status answer within timeoutMs. Believed are
 * a peer of our own user or root (SO_PEERCRED, which no file swap can forge;
 * where it cannot be read, the socket file's owner) that answers `status` as
 * superd does.
 */
export function superdAnswering(path: string, timeoutMs = RUNNING_STATUS_TIMEOUT_MS): Promise<{ pid: number } | null> {
  return new Promise((resolve) => {
    const conn = createConnection(path);
    let text = '';
    let settled = false;
    const done = (found: { pid: number } | null): void => {
      settled = true;
      clearTimeout(timer);
      conn.destroy();
      resolve(found);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    conn.on('error', () => done(null));
    conn.once('connect', () => {
      void believable(conn, path).then((trusted) => {
        if (settled) return;
        if (trusted) conn.end('status\n');
        else done(null);
      });
    });
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > MAX_STATUS_ANSWER) done(null);
    });
    conn.on('end', () => {
      try {
        const answer = JSON.parse(text.split('\n', 1)[0] ?? '') as unknown;
        done(isDaemonStatus(answer) ? { pid: answer.pid } : null);
      } catch {
        done(null);
      }
    });
  });
}

async function believable(conn: Socket, path: string): Promise<boolean> {
  const peer = trustedPeer(conn);
  if (peer !== null) return peer;
  try {
    const owner = (await lstat(path)).uid;
    return owner === currentUid() || owner === 0;
  } catch {
    return false;
  }
}

/** Something is at path that superd leaves alone: a superd of ours says so (`superd_running`), else `otherwise`. */
async function inUse(path: string, otherwise: ControlError): Promise<ControlError> {
  const running = await superdAnswering(path);
  if (running === null) return otherwise;
  return new ControlError(
    'superd_running',
    `another superd (pid ${running.pid}) answers on ${path}: only one superd runs per control socket; stop it first, or give this one another --control-socket`,
  );
}

/**
 * Opens the control socket at path, or says why not. Never removes anything
 * but a stale socket: a file that is not a socket, a live socket (another
 * superd, another program) and an untrusted /tmp/superd-UID are left alone.
 * A superd of ours answering there is `superd_running`.
 */
export async function serveControl(path: string, handlers: ControlHandlers | (() => DaemonStatus)): Promise<Server | ControlError> {
  const h: ControlHandlers = typeof handlers === 'function' ? { status: handlers } : handlers;
  const dir = await checkControlDir(path, { create: true });
  if (dir !== null) return new ControlError(dir.code, dir.message);
  const stale = await clearStaleSocket(path);
  if (stale !== null) {
    if (stale.code !== 'EADDRINUSE') return new ControlError(stale.code, stale.message);
    return inUse(path, new ControlError(stale.code, `${stale.message} (another superd?): left alone`));
  }
  const connections = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (conn) => {
    connections.add(conn);
    conn.once('close', () => connections.delete(conn));
    serve(conn, h);
  });
  server.maxConnections = MAX_CONNECTIONS;
  // Placed with its mode from the first instant, and linked, not renamed,
  // to path: something that appeared there meanwhile is never replaced.
  const result = await placeUnixSocket(path, 0o600, (where) => listenAt(server, where), (s) => s.close());
  // EADDRINUSE here: another superd starting at the same time placed its socket first.
  if ('code' in result) {
    const error = new ControlError(result.code, result.message);
    return result.code === 'EADDRINUSE' ? inUse(path, error) : error;
  }
  placed.set(server, { identity: result.identity, connections });
  logAcceptErrors(server, path, h.logger);
  return server;
}

/** Stops answering, and removes the socket file only if it is still ours. */
export async function closeControl(server: Server, path: string): Promise<void> {
  const p = placed.get(server);
  // Before close: while open, the socket pins its inode, so no replacement can look like ours.
  if (p !== undefined) await removeOwnSocket(path, p.identity);
  server.close();
  for (const conn of p?.connections ?? []) conn.destroy();
}
