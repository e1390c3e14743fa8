// The control socket (SPEC §6), the daemon's side. One request per
// connection, one line, a bare word or JSON ({"request":"reload"}):
//   `status`, or nothing before EOF → the DaemonStatus, one JSON line
//   `reload`        → starts a reload; its ReloadReport once it is done
//   `await-reload`  → {"waiting":true,"pid":N} at once, then the ReloadReport
//                     of the next reload to start (`superd reload --pid-file`
//                     asks this before its SIGHUP)
//   `upgrade`       → re-exec in place (src/upgrade/); the new image answers
//                     with its UpgradeReport, the old one only with an error
// Errors are {"error":{"code","message"}}. Mode 0600, and the peer's uid is
// checked too: only superd's own user and root are answered.
//
// Only one superd runs per control socket (SPEC §5): a superd of our user or
// root already answering at the path makes serveControl fail with
// `superd_running`, for `superd run` to exit before it binds anything.
import { createServer, Socket, type Server } from 'node:net';
import type { SuperdError } from '../errors.js';
import { serverFd } from '../internals/descriptor.js';
import { clearStaleSocket, placeUnixSocket, removeOwnSocket } from '../listen/unixpath.js';
import type { Logger } from '../log/types.js';
import { checkControlDir } from './path.js';
import { superdAnswering, trustedPeer } from './running.js';
import type { DaemonStatus, ReloadReport } from './status.js';
import { errorMessage } from '../errors.js';

/** A request line longer than this is not one of ours. */
const MAX_REQUEST = 4096;
/** A client that connects and says nothing is dropped after this. */
const REQUEST_TIMEOUT_MS = 5000;
/** Status and reload clients at once; past it Node closes new connections at once. */
const MAX_CONNECTIONS = 32;

export interface ControlHandlers {
  status(): DaemonStatus;
  /** Absent: this daemon cannot reload over its socket (clients then send SIGHUP). */
  reload?: {
    /** The outcome of the first reload that starts after this call, or why none will (shutdown). */
    next(): Promise<ReloadReport | SuperdError>;
    /** Asks for a reload, as SIGHUP does. */
    request(): void;
  };
  /** Absent: no upgrade in place. Resolves only when it failed (the old image serves on); on success the new image answers conn. */
  upgrade?: (conn: Socket) => Promise<SuperdError>;
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
  /** Null where an upgrade passed the socket without it (its file is then left at exit). */
  identity: { dev: number; ino: number } | null;
  connections: Set<Socket>;
}

const placed = new WeakMap<Server, Placed>();

type Request = 'status' | 'reload' | 'await-reload' | 'upgrade';

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
  if (word === 'reload' || word === 'await-reload' || word === 'upgrade') return word;
  return { code: 'unknown_request', message: `unknown request '${word.slice(0, 40)}': expected status, reload, await-reload or upgrade` };
}

function send(conn: Socket, value: unknown, last: boolean): void {
  const line = `${JSON.stringify(value)}\n`;
  if (last) conn.end(line);
  else conn.write(line);
}

async function answer(conn: Socket, request: Request | SuperdError, h: ControlHandlers): Promise<void> {
  if (typeof request !== 'string') return send(conn, { error: request }, true);
  if (request === 'status') return send(conn, h.status(), true);
  if (request === 'upgrade') {
    const failed = h.upgrade === undefined ? { code: 'unsupported', message: 'this superd cannot upgrade in place' } : await h.upgrade(conn);
    return send(conn, { error: failed }, true);
  }
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

function listenAt(server: Server, where: string | { fd: number }, path = String(where)): Promise<Server | SuperdError> {
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException): void => resolve({ code: err.code ?? 'EIO', message: `cannot listen on ${path}: ${err.message}` });
    server.once('error', onError);
    server.listen(where, () => {
      server.removeListener('error', onError);
      resolve(server);
    });
  });
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
  const { server, connections } = controlServer(h);
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

function controlServer(h: ControlHandlers): { server: Server; connections: Set<Socket> } {
  const connections = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (conn) => {
    connections.add(conn);
    conn.once('close', () => connections.delete(conn));
    serve(conn, h);
  });
  server.maxConnections = MAX_CONNECTIONS;
  return { server, connections };
}

/** The control socket an upgrade passed (src/upgrade/): served again as it was, no other superd looked for, nothing placed. */
export async function adoptControl(fd: number, path: string, ownFile: Placed['identity'], handlers: ControlHandlers): Promise<Server | ControlError> {
  const { server, connections } = controlServer(handlers);
  const listening = await listenAt(server, { fd }, path);
  if ('code' in listening) return new ControlError(listening.code, listening.message);
  placed.set(server, { identity: ownFile, connections });
  logAcceptErrors(server, path, handlers.logger);
  return server;
}

/** What an upgrade passes on of the control socket: its descriptor, and its file's identity. */
export function controlPassable(server: Server): { fd: number; ownFile: Placed['identity'] } | null {
  const fd = serverFd(server);
  return fd === null ? null : { fd, ownFile: placed.get(server)?.identity ?? null };
}

/** The `upgrade` client an upgrade passed on (src/upgrade/resume.ts): answered by the new image, as any request is. */
export function answerPassedClient(fd: number, value: unknown): void {
  const conn = new Socket({ fd, readable: true, writable: true });
  conn.on('error', () => undefined);
  send(conn, value, true);
}

/** Stops answering, and removes the socket file only if it is still ours. */
export async function closeControl(server: Server, path: string): Promise<void> {
  const p = placed.get(server);
  // Before close: while open, the socket pins its inode, so no replacement can look like ours.
  if (p !== undefined && p.identity !== null) await removeOwnSocket(path, p.identity);
  server.close();
  for (const conn of p?.connections ?? []) conn.destroy();
}
