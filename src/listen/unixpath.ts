// The socket file of a unix service: what to do with what is already at its
// path, placing a new one with its mode from the first instant, and removing
// it again only if it is still ours. node:fs and node:net only (no koffi), so
// Node's own unix listeners can use it too.
//
// superd runs as root, and the directory of a socket may be writable by an
// unprivileged user (a service's own /run/app). Whatever that user renames or
// plants there, superd never follows a symlink when it makes, chmods, links
// or removes a socket file (SPEC §2 `path`): every step works relative to a
// directory descriptor, reached by Linux's /proc/self/fd/N (a magic link to
// exactly the opened file, never resolved by name again), because node:fs has
// no *at() calls.
import { access, chmod, close, constants, fstat, link, lstat, mkdtemp, open, readlink, rmdir, unlink, type Stats } from 'node:fs';
import { connect } from 'node:net';
import { basename, dirname } from 'node:path';
import { promisify } from 'node:util';
import { isErrorValue, type SuperdError } from '../errors.js';

/** How long a live program gets to answer the connect that tells live from stale. */
const PROBE_MS = 1000;
/** The private directory's name: mkdtemp adds 6 characters to the prefix. */
const TMP_PREFIX = '.superd-';
const TMP_SOCKET = 's';
/** As many symlinks as Linux follows in one path (MAXSYMLINKS). */
const MAX_SYMLINKS = 40;
/**
 * Linux's O_PATH, which node:fs does not export: the generic value, used on
 * every architecture Node runs on (x86_64, aarch64, arm, ppc64, s390x,
 * riscv64, loong64); only alpha, parisc and sparc differ. An O_PATH
 * descriptor names a file without opening it for I/O: a socket file, a
 * symlink itself (with O_NOFOLLOW), a directory superd cannot read.
 */
const O_PATH = 0o10000000;
const DIRECTORY = O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/** A file itself, whatever it is: a symlink is opened as the symlink, not followed. */
const ENTRY = O_PATH | constants.O_NOFOLLOW;

// libuv opens everything close-on-exec: no handler inherits these descriptors.
const openFd = promisify(open) as (path: string, flags: number) => Promise<number>;
const closeFd = promisify(close);
const fstatFd = promisify(fstat) as (fd: number) => Promise<Stats>;
const lstatPath = promisify(lstat) as (path: string) => Promise<Stats>;
const chmodPath = promisify(chmod);
const linkPath = promisify(link);
const unlinkPath = promisify(unlink);
const rmdirPath = promisify(rmdir);
const mkdtempPath = promisify(mkdtemp) as (prefix: string) => Promise<string>;
const readlinkPath = promisify(readlink) as (path: string) => Promise<string>;
const accessPath = promisify(access);

/** The path that reaches exactly the file behind fd, with name beneath it if given. */
function viaFd(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

async function closeQuietly(fd: number): Promise<void> {
  // Linux releases the descriptor even when close reports an error: never retry.
  await closeFd(fd).catch(() => undefined);
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

function fsError(err: unknown, context: string): SuperdError {
  const message = err instanceof Error ? err.message : String(err);
  return { code: codeOf(err), message: `${context}: ${message}` };
}

const sameFile = (a: Stats, b: { dev: number; ino: number }): boolean => a.dev === b.dev && a.ino === b.ino;

let procChecked: Promise<SuperdError | null> | undefined;
/** Everything here goes through /proc/self/fd: say so plainly where /proc is not mounted. */
function procMounted(): Promise<SuperdError | null> {
  procChecked ??= accessPath('/proc/self/fd').then(
    () => null,
    (err: unknown) => fsError(err, 'superd places unix socket files through /proc/self/fd, which it cannot reach'),
  );
  return procChecked;
}

/**
 * A symlink met on the way to a socket's directory is followed only where
 * nobody but root or superd's own user can have put it, or can swap it for
 * another: in a directory owned by one of them that neither its group nor
 * others may write. /var/run → /run qualifies; a link planted in a
 * service's own /run/app, or in /tmp, does not.
 */
function holdsTrustedLinks(dir: Stats): boolean {
  const euid = process.geteuid?.() ?? 0;
  return (dir.uid === 0 || dir.uid === euid) && (dir.mode & 0o022) === 0;
}

/** The directory above reached ('' for /), as openDirectory spells paths. */
function parentOf(reached: string): string {
  const up = dirname(reached === '' ? '/' : reached);
  return up === '/' ? '' : up;
}

/**
 * An O_PATH descriptor of the directory at dir (absolute), reached one name at
 * a time from / with O_NOFOLLOW, so nothing renamed meanwhile can redirect a
 * step that was already taken; a symlink on the way is followed only where
 * holdsTrustedLinks says so. The caller closes it.
 */
async function openDirectory(dir: string): Promise<number | SuperdError> {
  const noProc = await procMounted();
  if (noProc !== null) return noProc;
  const pending = dir.split('/').reverse();
  let reached = '';
  let links = 0;
  let current: number;
  try {
    current = await openFd('/', DIRECTORY);
  } catch (err) {
    return fsError(err, 'cannot open /');
  }
  let found = false;
  try {
    for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
      if (name === '' || name === '.') continue;
      const shown = `${reached}/${name}`;
      let next: number;
      try {
        next = await openFd(viaFd(current, name), name === '..' ? DIRECTORY : ENTRY);
      } catch (err) {
        return fsError(err, `cannot open ${shown}`);
      }
      let st: Stats;
      try {
        st = await fstatFd(next);
      } catch (err) {
        await closeQuietly(next);
        return fsError(err, `cannot examine ${shown}`);
      }
      if (st.isDirectory()) {
        await closeQuietly(current);
        current = next;
        reached = name === '..' ? parentOf(reached) : shown;
        continue;
      }
      await closeQuietly(next);
      if (!st.isSymbolicLink()) return { code: 'ENOTDIR', message: `${shown} is not a directory` };
      const holder = await fstatFd(current);
      if (!holdsTrustedLinks(holder)) {
        return { code: 'ELOOP', message: `${shown} is a symbolic link in a directory others can write: not followed` };
      }
      links += 1;
      if (links > MAX_SYMLINKS) return { code: 'ELOOP', message: `too many symbolic links on the way to ${dir}` };
      // In a directory only root (or superd's user) can write, the link read
      // by name is the one just examined.
      const target = await readlinkPath(viaFd(current, name));
      pending.push(...target.split('/').reverse());
      if (target.startsWith('/')) {
        const root = await openFd('/', DIRECTORY);
        await closeQuietly(current);
        current = root;
        reached = '';
      }
    }
    found = true;
    return current;
  } catch (err) {
    return fsError(err, `cannot reach ${dir}`);
  } finally {
    if (!found) await closeQuietly(current);
  }
}

/**
 * openDirectory, then fn with its descriptor, which is closed whatever fn
 * does; { unreachable } when the directory cannot be opened.
 */
async function inDirectory<R>(dir: string, fn: (parent: number) => Promise<R>): Promise<R | { unreachable: SuperdError }> {
  const parent = await openDirectory(dir);
  if (isErrorValue(parent)) return { unreachable: parent };
  try {
    return await fn(parent);
  } finally {
    await closeQuietly(parent);
  }
}

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

/** The value of bindAt, whatever it returned or threw. */
async function attempt<T>(bindAt: (where: string) => Promise<T | SuperdError> | T | SuperdError, where: string, shown: string): Promise<{ ok: T } | { error: SuperdError }> {
  try {
    const r = await bindAt(where);
    if (isErrorValue(r)) return { error: r };
    return { ok: r };
  } catch (err) {
    return { error: fsError(err, `cannot bind ${shown}`) };
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
 * The private directory each placed socket was bound in, by its identity
 * object: kept open until removeOwnSocket (see there). A plain descriptor
 * number, never a FileHandle, which Node would close when collected.
 */
const bindDirectories = new WeakMap<object, number>();

/**
 * Binds a unix socket at path that never exists there with any other mode
 * than `mode`, and never through a symlink:
 * - the directory of path is opened (openDirectory: no symlink followed but
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
  bindAt: (where: string) => Promise<T | SuperdError> | T | SuperdError,
  release?: (value: T) => void,
): Promise<{ value: T; identity: { dev: number; ino: number } } | SuperdError> {
  const result = await inDirectory(dirname(path), (parent) => placeIn(parent, path, mode, bindAt, release));
  if ('unreachable' in result) return { code: result.unreachable.code, message: `cannot place ${path}: ${result.unreachable.message}` };
  return result;
}

async function placeIn<T>(
  parent: number,
  path: string,
  mode: number,
  bindAt: (where: string) => Promise<T | SuperdError> | T | SuperdError,
  release: ((value: T) => void) | undefined,
): Promise<{ value: T; identity: { dev: number; ino: number } } | SuperdError> {
  const dir = dirname(path);
  let privateName: string;
  try {
    privateName = basename(await mkdtempPath(viaFd(parent, TMP_PREFIX)));
  } catch (err) {
    return fsError(err, `cannot create a private directory in ${dir}`);
  }
  const shownPrivate = `${dir === '/' ? '' : dir}/${privateName}`;
  let privateDir: number;
  try {
    privateDir = await openFd(viaFd(parent, privateName), DIRECTORY);
  } catch (err) {
    // Renamed away, or a symlink put in its place: whoever did it may keep it.
    return fsError(err, `the private directory ${shownPrivate} was replaced meanwhile: nothing placed`);
  }
  let kept = false;
  try {
    const own = await fstatFd(privateDir);
    const euid = process.geteuid?.() ?? 0;
    if (!own.isDirectory() || own.uid !== euid || (own.mode & 0o077) !== 0) {
      return { code: 'EPERM', message: `the private directory ${shownPrivate} was replaced meanwhile by one that is not superd's alone: nothing placed` };
    }
    const where = viaFd(privateDir, TMP_SOCKET);
    const bound = await attempt(bindAt, where, path);
    if ('error' in bound) return bound.error;
    try {
      const identity = await setModeAndLink(privateDir, parent, basename(path), mode, path);
      bindDirectories.set(identity, privateDir);
      kept = true;
      return { value: bound.ok, identity };
    } catch (err) {
      // Closed while D is still open: a Node server's own unlink at close lands in D.
      discard(bound.ok, release);
      if (codeOf(err) === 'EEXIST') return { code: 'EADDRINUSE', message: `${path} appeared meanwhile: left untouched` };
      return fsError(err, `cannot place the socket ${path}`);
    } finally {
      await unlinkPath(where).catch(() => undefined);
    }
  } catch (err) {
    return fsError(err, `cannot place the socket ${path}`);
  } finally {
    await removePrivateDirectory(parent, privateName, privateDir);
    if (!kept) await closeQuietly(privateDir);
  }
}

/** chmod and link the socket bound at D/s; its dev and ino. */
async function setModeAndLink(privateDir: number, parent: number, name: string, mode: number, path: string): Promise<{ dev: number; ino: number }> {
  const socket = await openFd(viaFd(privateDir, TMP_SOCKET), ENTRY);
  try {
    const st = await fstatFd(socket);
    if (!st.isSocket()) throw Object.assign(new Error(`no socket was bound for ${path}`), { code: 'ENOTSOCK' });
    await chmodPath(viaFd(socket), mode);
    await linkPath(viaFd(privateDir, TMP_SOCKET), viaFd(parent, name));
    return { dev: st.dev, ino: st.ino };
  } finally {
    await closeQuietly(socket);
  }
}

/** rmdir P/name, only while that name still leads to the directory we hold. */
async function removePrivateDirectory(parent: number, name: string, privateDir: number): Promise<void> {
  try {
    const [held, named] = await Promise.all([fstatFd(privateDir), lstatPath(viaFd(parent, name))]);
    if (named.isDirectory() && sameFile(named, held)) await rmdirPath(viaFd(parent, name));
  } catch {
    // Gone, or someone else's now.
  }
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
  const bindDirectory = bindDirectories.get(identity);
  bindDirectories.delete(identity);
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
