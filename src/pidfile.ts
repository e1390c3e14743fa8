// The --pid-file: written once the listeners are up, removed at exit (SPEC §1).
// superd often runs as root and the file's directory may be one that others
// can write, so it is never written through whatever is at the path: a new
// file is made next to it (O_EXCL, so never through a symlink) and renamed
// over the path, which replaces a link rather than following it.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { SuperdError } from './errors.js';
import { errorMessage } from './errors.js';

const MODE = 0o644;
/** A pid file is a few bytes; more is not ours. */
const MAX_BYTES = 64;

function pidFileError(path: string, why: string): SuperdError {
  return { code: 'pid_file', message: `cannot write pid file ${path}: ${why}` };
}


/** Why a link at path must not be replaced, or null: its directory is one others can write. */
async function untrustedLink(path: string): Promise<string | null> {
  const dir = await lstat(dirname(path));
  const uid = process.getuid?.() ?? 0;
  if ((dir.mode & 0o022) !== 0 || (dir.uid !== uid && dir.uid !== 0)) {
    return `it is a symbolic link, in ${dirname(path)}, which other users can write: someone may be trying to make superd overwrite another file; remove the link or use another directory`;
  }
  return null;
}

/** Writes `pid` at path, safely; null when done, else why not. */
export async function writePidFile(path: string, pid: number): Promise<SuperdError | null> {
  try {
    const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (st !== null && st.isSymbolicLink()) {
      const why = await untrustedLink(path);
      if (why !== null) return pidFileError(path, why);
    } else if (st !== null && !st.isFile()) {
      return pidFileError(path, 'it exists and is not a regular file: left untouched');
    }
  } catch (err) {
    return pidFileError(path, errorMessage(err));
  }
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}`);
  try {
    // O_EXCL fails on anything already there, a symlink included.
    const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, MODE);
    try {
      await handle.writeFile(`${pid}\n`);
      await handle.chmod(MODE); // whatever the umask
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
    return null;
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    return pidFileError(path, errorMessage(err));
  }
}

/**
 * Removes the pid file only while it still names `pid`: another superd may
 * have written its own since, or this one never wrote it (start failed).
 */
export async function removePidFile(path: string, pid: number): Promise<void> {
  let text: string;
  try {
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      if (!(await handle.stat()).isFile()) return;
      const buf = Buffer.alloc(MAX_BYTES);
      const { bytesRead } = await handle.read(buf, 0, MAX_BYTES, 0);
      text = buf.subarray(0, bytesRead).toString('latin1');
    } finally {
      await handle.close();
    }
  } catch {
    return; // gone, a link, unreadable: not ours to remove
  }
  if (text.trim() === String(pid)) await unlink(path).catch(() => undefined);
}
