// Reaching the directory of a unix socket file, and the names in it, without
// following what another user planted. superd runs as root, and the
// directory of a socket may be writable by an unprivileged user (a service's
// own /run/app). Whatever that user renames or plants there, superd never
// follows a symlink when it makes, chmods, links or removes a socket file
// (SPEC §2 `path`): every step works relative to a directory descriptor,
// reached by Linux's /proc/self/fd/N (a magic link to exactly the opened
// file, never resolved by name again), because node:fs has no *at() calls.
// node:fs only (no koffi), so Node's own unix listeners can use it too.
import { access, close, constants, fstat, lstat, open, readlink, unlink, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { errorMessage, isErrorValue, type SuperdError } from '../errors.js';

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
/** A directory itself, opened only if the name is one (never through a symlink). */
export const DIRECTORY = O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/** A file itself, whatever it is: a symlink is opened as the symlink, not followed. */
export const ENTRY = O_PATH | constants.O_NOFOLLOW;

// libuv opens everything close-on-exec: no handler inherits these descriptors.
export const openFd = promisify(open) as (path: string, flags: number) => Promise<number>;
const closeFd = promisify(close);
export const fstatFd = promisify(fstat) as (fd: number) => Promise<Stats>;
export const lstatPath = promisify(lstat) as (path: string) => Promise<Stats>;
export const unlinkPath = promisify(unlink);
const readlinkPath = promisify(readlink) as (path: string) => Promise<string>;
const accessPath = promisify(access);

/** The path that reaches exactly the file behind fd, with name beneath it if given. */
export function viaFd(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

export async function closeQuietly(fd: number): Promise<void> {
  // Linux releases the descriptor even when close reports an error: never retry.
  await closeFd(fd).catch(() => undefined);
}

/** An error's errno name ('EIO' when it has none). */
export function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

/** A node:fs failure as an error value, after `context: `. */
export function fsError(err: unknown, context: string): SuperdError {
  const message = errorMessage(err);
  return { code: codeOf(err), message: `${context}: ${message}` };
}

export const sameFile = (a: Stats, b: { dev: number; ino: number }): boolean => a.dev === b.dev && a.ino === b.ino;

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
export async function inDirectory<R>(dir: string, fn: (parent: number) => Promise<R>): Promise<R | { unreachable: SuperdError }> {
  const parent = await openDirectory(dir);
  if (isErrorValue(parent)) return { unreachable: parent };
  try {
    return await fn(parent);
  } finally {
    await closeQuietly(parent);
  }
}
