// Placing a unix socket file: bound inside a private directory, given its
// mode there, then linked into place, so it never exists at its path with
// another mode and is never placed through a symlink (unixpath.ts's
// placeUnixSocket says the steps). The private directory stays open until
// the socket is removed (unixpath.ts's removeOwnSocket).
import { chmod, link, mkdtemp, rmdir } from 'node:fs';
import { basename, dirname } from 'node:path';
import { promisify } from 'node:util';
import { isErrorValue, type SuperdError } from '../errors.js';
import { closeQuietly, codeOf, DIRECTORY, ENTRY, fsError, fstatFd, lstatPath, openFd, sameFile, unlinkPath, viaFd } from './unixdir.js';

/** The private directory's name: mkdtemp adds 6 characters to the prefix. */
const TMP_PREFIX = '.superd-';
const TMP_SOCKET = 's';

const chmodPath = promisify(chmod);
const linkPath = promisify(link);
const rmdirPath = promisify(rmdir);
const mkdtempPath = promisify(mkdtemp) as (prefix: string) => Promise<string>;

/** What binds the socket at the path it is given: its value, or an error. */
export type BindAt<T> = (where: string) => Promise<T | SuperdError> | T | SuperdError;
/** A placed socket: bindAt's value, and the socket file's identity. */
export type Placed<T> = { value: T; identity: { dev: number; ino: number } };

/** The value of bindAt, whatever it returned or threw. */
async function attempt<T>(bindAt: BindAt<T>, where: string, shown: string): Promise<{ ok: T } | { error: SuperdError }> {
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
 * object: kept open until removeOwnSocket (unixpath.ts) takes it. A plain
 * descriptor number, never a FileHandle, which Node would close when
 * collected.
 */
const bindDirectories = new WeakMap<object, number>();

/** The directory a placed socket was bound in, no longer kept here: its closing is the caller's. */
export function takeBindDirectory(identity: object): number | undefined {
  const fd = bindDirectories.get(identity);
  bindDirectories.delete(identity);
  return fd;
}

/** placeUnixSocket's steps (unixpath.ts), in the directory P of path, opened as parent. */
export async function placeIn<T>(
  parent: number,
  path: string,
  mode: number,
  bindAt: BindAt<T>,
  release: ((value: T) => void) | undefined,
): Promise<Placed<T> | SuperdError> {
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
