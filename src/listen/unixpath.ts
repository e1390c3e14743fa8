// The socket file of a unix service, at its path: what to do with what is
// already there (clearStaleSocket), placing a new one with its mode from the
// first instant (placeUnixSocket, unixplace.ts), and removing it again only
// if it is still ours (removeOwnSocket). Every step reaches the directory
// without following a symlink another user could have planted (unixdir.ts).
// node:fs and node:net only (no koffi), so Node's own unix listeners can use
// it too.
import { connect } from 'node:net';
import { basename, dirname } from 'node:path';
import type { SuperdError } from '../errors.js';
import { closeQuietly, codeOf, ENTRY, fsError, fstatFd, inDirectory, lstatPath, openFd, sameFile, unlinkPath, viaFd } from './unixdir.js';
import { placeIn, takeBindDirectory, type BindAt, type Placed } from './unixplace.js';

/** How long a live program gets to answer the connect that tells live from stale. */
const PROBE_MS = 1000;

type Probe = 'live' | 'refused' | 'gone' | SuperdError;

/** Connects to the socket behind target: does a program answer there? shown names it in errors. */
function probe(target: string, shown: string): Promise<Probe> {
  return new Promise((resolve) => {
    const socket = connect({ path: target });
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
      else done(fsError(err, `cannot tell whether ${shown} is in use`));
    });
  });
}

/**
 * What is at path before binding: nothing (null), a stale socket file
 * (removed here, null), or a reason not to bind: a live socket (a program
 * answers a connect within ~1 s) → EADDRINUSE; anything that is not a socket
 * (regular file, directory, symlink — a symlink is never followed, whatever
 * it points to) → ENOTSOCK, left untouched. Never removes anything but the
 * socket file that refused (ECONNREFUSED) a connection: the probe connects
 * through an O_PATH descriptor of that very file, and it is unlinked only
 * while the name still leads to it (same dev and ino).
 */
export async function clearStaleSocket(path: string): Promise<SuperdError | null> {
  const name = basename(path);
  const result = await inDirectory(dirname(path), async (parent): Promise<SuperdError | null> => {
    let entry: number;
    try {
      entry = await openFd(viaFd(parent, name), ENTRY);
    } catch (err) {
      return codeOf(err) === 'ENOENT' ? null : fsError(err, `cannot examine ${path}`);
    }
    try {
      const before = await fstatFd(entry);
      if (before.isSymbolicLink()) return { code: 'ENOTSOCK', message: `${path} exists and is not a socket (a symbolic link, never followed): left untouched` };
      if (!before.isSocket()) return { code: 'ENOTSOCK', message: `${path} exists and is not a socket: left untouched` };
      const found = await probe(viaFd(entry), path);
      if (found === 'gone') return null;
      if (found === 'live') return { code: 'EADDRINUSE', message: `another program is listening on ${path}` };
      if (found !== 'refused') return found;
      // Stale. While entry is open its inode cannot be reused, so a name that
      // still leads to the same dev and ino is that very file. Whoever swaps
      // the name between this look and the unlink can write the directory and
      // could have removed what we then remove; unlink never follows a symlink.
      try {
        const now = await lstatPath(viaFd(parent, name));
        if (!now.isSocket() || !sameFile(now, before)) {
          return { code: 'EADDRINUSE', message: `${path} was replaced by another program meanwhile` };
        }
        await unlinkPath(viaFd(parent, name));
      } catch (err) {
        if (codeOf(err) !== 'ENOENT') return fsError(err, `cannot remove the stale socket ${path}`);
      }
      return null;
    } catch (err) {
      return fsError(err, `cannot examine ${path}`);
    } finally {
      await closeQuietly(entry);
    }
  });
  if (result === null || !('unreachable' in result)) return result;
  // A missing directory has nothing in the way: placing says why it cannot bind.
  if (result.unreachable.code === 'ENOENT') return null;
  return { code: result.unreachable.code, message: `cannot examine ${path}: ${result.unreachable.message}` };
}

/**
 * Binds a unix socket at path that never exists there with any other mode
 * than `mode`, and never through a symlink:
 * - the directory of path is opened (unixdir.ts: no symlink followed but
 *   those only root can have put there) as P;
 * - a fresh private directory is made in it (mkdtemp /proc/self/fd/P/.superd-
 *   XXXXXX, 0700) and opened with O_NOFOLLOW as D; it must be a directory of
 *   superd's own user that nobody else may enter, which no one else can make:
 *   whoever renamed ours and put a symlink or a directory of their own in its
 *   place fails the placing (EPERM, ENOTDIR or ELOOP), never redirects it;
 * - bindAt(/proc/self/fd/D/s): inside D no one else can add, swap or remove
 *   anything, and the name is short (sun_path holds 107 bytes) however long
 *   path's directory is;
 * - the socket is opened O_PATH|O_NOFOLLOW, checked to be a socket, and
 *   chmod-ed through /proc/self/fd of that descriptor;
 * - link(/proc/self/fd/D/s, /proc/self/fd/P/name): link never follows its
 *   source and fails (EEXIST, reported as EADDRINUSE) on anything at its
 *   target, where rename would silently replace it; call clearStaleSocket
 *   first;
 * - D/s is unlinked and D removed through P, only while its name there still
 *   leads to D (an empty directory left in place of a renamed one is its
 *   renamer's to clear).
 * The process umask is never changed (other threads may be spawning).
 *
 * bindAt does the bind (native or Node) at the path it is given and returns
 * its value or an error; that path names the socket only while placing.
 * Node's unix servers unlink the path they were bound at when closed, so D
 * stays open (dead, empty) until removeOwnSocket: a /proc/self/fd/D/s whose
 * number went to another directory meanwhile would unlink a stranger's `s`.
 * If placing fails after bindAt succeeded, its value is closed: by
 * `release`, or by its own close() method.
 */
export async function placeUnixSocket<T>(
  path: string,
  mode: number,
  bindAt: BindAt<T>,
  release?: (value: T) => void,
): Promise<Placed<T> | SuperdError> {
  const result = await inDirectory(dirname(path), (parent) => placeIn(parent, path, mode, bindAt, release));
  if ('unreachable' in result) return { code: result.unreachable.code, message: `cannot place ${path}: ${result.unreachable.message}` };
  return result;
}

/**
 * Unlinks path only if it is still the socket file we placed (same dev and
 * ino), looked up relative to its directory reached as placing did (no
 * symlink followed but those only root can have put there); unlink never
 * follows the name itself. Another program's replacement is left alone.
 * Never throws.
 *
 * Call it BEFORE closing the socket: while it is open, the socket pins its
 * inode, so no replacement can carry the same inode number. Once closed and
 * unlinked by someone else, the number is free and ext4 hands it out again
 * at once, to a replacement that would then look like ours.
 *
 * Close the socket right after this resolves, in the same turn of the event
 * loop (`await removeOwnSocket(…); server.close()`): the directory the socket
 * was bound in is closed on the next turn, after a Node server's close has
 * unlinked its (long gone) bind path in it.
 */
export async function removeOwnSocket(path: string, identity: { dev: number; ino: number }): Promise<void> {
  const bindDirectory = takeBindDirectory(identity);
  try {
    const name = basename(path);
    await inDirectory(dirname(path), async (parent) => {
      const st = await lstatPath(viaFd(parent, name));
      if (st.isSocket() && sameFile(st, identity)) await unlinkPath(viaFd(parent, name));
    });
  } catch {
    // Gone already, or not ours to remove.
  } finally {
    if (bindDirectory !== undefined) setImmediate(() => void closeQuietly(bindDirectory));
  }
}
