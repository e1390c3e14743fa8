// Reading what root may act on: the services dir and each service file are
// refused when others could write them (as sshd's StrictModes), a service
// file is read only if it is a regular file and not absurdly large, and
// errors say what is wrong in words.
import { constants, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { configError, type ConfigError } from '../errors.js';

/** A service file larger than this is certainly not one; refusing it keeps a mistake cheap. */
const MAX_FILE_BYTES = 1 << 20;

export function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT': return 'it does not exist';
    case 'EACCES': return 'permission denied';
    case 'ENOTDIR': return 'a part of the path is not a directory';
    default: return err.message;
  }
}

/** Why root must not trust what others can write (as sshd's StrictModes), or null. */
export function unsafeReason(what: string, target: string, st: Stats): string | null {
  const risk = 'anyone who can write it could run programs as root';
  if (st.uid !== 0) {
    return `${what} '${target}' is owned by uid ${st.uid}, not root: ${risk}; refused until you run: chown root '${target}'`;
  }
  if ((st.mode & 0o022) !== 0) {
    const who = (st.mode & 0o020 ? ['group'] : []).concat(st.mode & 0o002 ? ['others'] : []).join(' and ');
    return `${what} '${target}' is writable by ${who}: ${risk}; refused until you run: chmod go-w '${target}'`;
  }
  return null;
}

/** The text, a file-level error, or null when the entry is not a regular file (ignored). */
export async function readServiceFile(file: string, selfUid: number): Promise<string | ConfigError | null> {
  const fileError = (code: string, message: string): ConfigError => configError(code, file, 0, null, message);
  try {
    // stat follows symlinks: a.conf -> /usr/share/x/a.conf is a regular file.
    if (!(await stat(file)).isFile()) return null;
    // O_NONBLOCK: should the name turn into a FIFO after the stat, open must not hang the daemon.
    const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const st = await handle.stat();
      if (!st.isFile()) return null;
      const unsafe = selfUid === 0 ? unsafeReason('service file', file, st) : null;
      if (unsafe !== null) return fileError('unsafe_file', unsafe);
      if (st.size > MAX_FILE_BYTES) {
        return fileError('unreadable', `service file is ${st.size} bytes; at most ${MAX_FILE_BYTES} are read`);
      }
      return await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (e) {
    return fileError('unreadable', `cannot read service file: ${errnoText(e)}`);
  }
}
