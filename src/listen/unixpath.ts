// The socket file of a unix service: what to do with what is already at its
// path, placing a new one with its mode from the first instant, and removing
// it again only if it is still ours. node:fs and node:net only (no koffi), so
// Node's own unix listeners can use it too.
import { chmod, link, lstat, mkdtemp, rmdir, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { isNativeError, type NativeError } from './native.js';

/** How long a live program gets to answer the connect that tells live from stale. */
const PROBE_MS = 1000;
/** sun_path holds 107 bytes and a NUL. */
const UNIX_PATH_MAX = 107;
/** The private directory's name: mkdtemp adds 6 characters to the prefix. */
const TMP_PREFIX = '.superd-';
const TMP_NAME_LENGTH = TMP_PREFIX.length + 6;
const TMP_SOCKET = 's';

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

function fsError(err: unknown, context: string): NativeError {
  const message = err instanceof Error ? err.message : String(err);
  return { code: codeOf(err), message: `${context}: ${message}` };
}

type Probe = 'live' | 'refused' | 'gone' | NativeError;

/** Connects to the socket at path: does a program answer there? */
function probe(path: string): Promise<Probe> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    socket.on('error', () => undefined);
    const done = (result: Probe): void => {
      clearTimeout(timer);
      socket.removeAllListeners('connect');
      resolve(result);
    };
    // No answer in time (a full backlog, a stopped program): something holds it, it is not stale.
    const timer = setTimeout(() => {
      done('live');
      socket.destroy();
    }, PROBE_MS);
    socket.once('connect', () => {
      done('live');
      // Hang up gently: read whatever the program says (closing on unread
      // data would give it ECONNRESET) and end our side; it closes its own.
      socket.resume();
      socket.end();
      const linger = setTimeout(() => socket.destroy(), PROBE_MS);
      linger.unref();
      socket.once('close', () => clearTimeout(linger));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      if (err.code === 'ECONNREFUSED') done('refused');
      else if (err.code === 'ENOENT') done('gone');
      else if (err.code === 'EAGAIN') done('live'); // backlog full: someone is listening
      else done(fsError(err, `cannot tell whether ${path} is in use`));
    });
  });
}

/**
 * What is at path before binding: nothing (null), a stale socket file
 * (removed here, null), or a reason not to bind: a live socket (a program
 * answers a connect within ~1 s) → EADDRINUSE; anything that is not a socket
 * (regular file, directory, symlink…) → ENOTSOCK, left untouched. Never
 * removes anything but a socket that refused (ECONNREFUSED) a connection.
 */
export async function clearStaleSocket(path: string): Promise<NativeError | null> {
  let before;
  try {
    before = await lstat(path);
  } catch (err) {
    return codeOf(err) === 'ENOENT' ? null : fsError(err, `cannot examine ${path}`);
  }
  if (!before.isSocket()) return { code: 'ENOTSOCK', message: `${path} exists and is not a socket: left untouched` };
  const found = await probe(path);
  if (found === 'gone') return null;
  if (found === 'live') return { code: 'EADDRINUSE', message: `another program is listening on ${path}` };
  if (found !== 'refused') return found;
  // Stale. Remove it only if it is still the file that refused.
  try {
    const now = await lstat(path);
    if (!now.isSocket() || now.dev !== before.dev || now.ino !== before.ino) {
      return { code: 'EADDRINUSE', message: `${path} was replaced by another program meanwhile` };
    }
    await unlink(path);
  } catch (err) {
    if (codeOf(err) !== 'ENOENT') return fsError(err, `cannot remove the stale socket ${path}`);
  }
  return null;
}

/** The value of bindAt, whatever it returned or threw. */
async function attempt<T>(bindAt: (where: string) => Promise<T | NativeError> | T | NativeError, where: string): Promise<{ ok: T } | { error: NativeError }> {
  try {
    const r = await bindAt(where);
    if (isNativeError(r)) return { error: r };
    return { ok: r };
  } catch (err) {
    return { error: fsError(err, `cannot bind ${where}`) };
  }
}

/** Closes what bindAt made, when placing it failed after all: release, or its own close(). */
function discard<T>(value: T, release: ((value: T) => void) | undefined): void {
  try {
    if (release !== undefined) release(value);
    else {
      const close = (value as { close?: unknown } | null)?.close;
      if (typeof close === 'function') (close as () => void).call(value);
    }
  } catch {
    // Nothing more to do with a socket that cannot even be closed.
  }
}

/**
 * Binds a unix socket at path that never exists there with any other mode
 * than `mode`: bindAt(tmp) inside a fresh private directory (mkdtemp, 0700)
 * next to path, chmod(tmp, mode), then link(tmp, path), unlink(tmp), rmdir.
 * link rather than rename: it fails (EADDRINUSE here) when something
 * appeared at path meanwhile, where rename would silently replace it; call
 * clearStaleSocket first. The process umask is never changed (other threads
 * may be spawning).
 *
 * Where dirname(path)/.superd-XXXXXX/s would not fit in sun_path (107
 * bytes), bindAt gets path itself and the mode is set right after: for that
 * moment the socket has the mode bind gave it (0777 & ~umask) and a client
 * may connect. Keep socket directories short to avoid that window.
 *
 * bindAt does the bind (native or Node) at the path it is given and returns
 * its value or an error. Note that a native socket bound at tmp reports tmp
 * as its localAddress. If placing fails after bindAt succeeded, its value is
 * closed: by `release`, or by its own close() method.
 */
export async function placeUnixSocket<T>(
  path: string,
  mode: number,
  bindAt: (where: string) => Promise<T | NativeError> | T | NativeError,
  release?: (value: T) => void,
): Promise<{ value: T; identity: { dev: number; ino: number } } | NativeError> {
  const dir = dirname(path);
  const direct = Buffer.byteLength(join(dir, 'x'.repeat(TMP_NAME_LENGTH), TMP_SOCKET)) > UNIX_PATH_MAX;
  if (direct) {
    const bound = await attempt(bindAt, path);
    if ('error' in bound) return bound.error;
    try {
      await chmod(path, mode);
      const st = await lstat(path);
      return { value: bound.ok, identity: { dev: st.dev, ino: st.ino } };
    } catch (err) {
      discard(bound.ok, release);
      await unlink(path).catch(() => undefined);
      return fsError(err, `cannot set the mode of ${path}`);
    }
  }

  let privateDir: string;
  try {
    privateDir = await mkdtemp(join(dir, TMP_PREFIX));
  } catch (err) {
    return fsError(err, `cannot create a private directory in ${dir}`);
  }
  const tmp = join(privateDir, TMP_SOCKET);
  try {
    const bound = await attempt(bindAt, tmp);
    if ('error' in bound) return bound.error;
    try {
      await chmod(tmp, mode);
      const st = await lstat(tmp);
      await link(tmp, path);
      return { value: bound.ok, identity: { dev: st.dev, ino: st.ino } };
    } catch (err) {
      discard(bound.ok, release);
      if (codeOf(err) === 'EEXIST') return { code: 'EADDRINUSE', message: `${path} appeared meanwhile: left untouched` };
      return fsError(err, `cannot place the socket ${path}`);
    }
  } finally {
    await unlink(tmp).catch(() => undefined);
    await rmdir(privateDir).catch(() => undefined);
  }
}

/**
 * Unlinks path only if it is still the socket file we placed (same dev and
 * ino): another program's replacement is left alone. Never throws.
 *
 * Call it BEFORE closing the socket: while it is open, the socket pins its
 * inode, so no replacement can carry the same inode number. Once closed and
 * unlinked by someone else, the number is free and ext4 hands it out again
 * at once, to a replacement that would then look like ours.
 */
export async function removeOwnSocket(path: string, identity: { dev: number; ino: number }): Promise<void> {
  try {
    const st = await lstat(path);
    if (st.isSocket() && st.dev === identity.dev && st.ino === identity.ino) await unlink(path);
  } catch {
    // Gone already, or not ours to remove.
  }
}
