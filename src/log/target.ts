// What a --log-file may be, and how it is opened. superd runs as root and a
// log directory may be writable by others, or the file replaced while it is
// rotated: the file is never opened through a symlink (O_NOFOLLOW, on every
// open, reopen and retry), is created 0640 whatever the umask allows, and
// only a regular file, a FIFO or a character device (/dev/null, a tty) is
// written into. /dev/stderr is a symlink, so it is refused too: without
// --log-file superd logs to standard error.
import { close, constants, fstat, open as openFile } from 'node:fs';
import { lstat } from 'node:fs/promises';

/** Mode of a log file superd creates (an existing one keeps its own): not for every user to read. */
export const LOG_FILE_MODE = 0o640;
// libuv adds O_CLOEXEC to every open (Node's constants do not even name it): no handler inherits the log.
const LOG_OPEN_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

/** Why superd will not write into what is at path: a symlink, or a kind of file that is not a log's. */
export class LogTargetError extends Error {
  constructor(
    readonly code: 'log_symlink' | 'log_not_file',
    message: string,
  ) {
    super(message);
  }
}

function symlinkRefused(file: string): LogTargetError {
  return new LogTargetError('log_symlink', `${file} is a symlink: superd does not log through symlinks (name the file itself)`);
}

/** Null for what a log may be: a regular file, a FIFO, a character device (/dev/null, a tty). */
function kindRefused(file: string, st: { isFile(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isDirectory(): boolean; isSocket(): boolean }): LogTargetError | null {
  if (st.isFile() || st.isFIFO() || st.isCharacterDevice()) return null;
  const kind = st.isBlockDevice() ? 'a block device' : st.isDirectory() ? 'a directory' : st.isSocket() ? 'a socket' : 'not a regular file';
  return new LogTargetError('log_not_file', `${file} is ${kind}: superd logs only to a regular file, a FIFO or a character device`);
}

/**
 * Before superd starts: a symlink or a block device, socket or directory at
 * the --log-file path is refused at once (exit 1), as it will not go away by
 * itself. Null when the path may be opened (missing, or not examinable: the
 * open then says why, and is retried as any failed log file is). The open
 * itself refuses them again, whatever is there by then.
 */
export async function checkLogFile(file: string): Promise<LogTargetError | null> {
  try {
    const st = await lstat(file);
    return st.isSymbolicLink() ? symlinkRefused(file) : kindRefused(file, st);
  } catch {
    return null;
  }
}

type OpenCallback = (err: NodeJS.ErrnoException | null, fd?: number) => void;

/**
 * The write stream's open, whatever flags and mode the stream would use:
 * append, never through a symlink at the path's last component (ELOOP says
 * so plainly), created LOG_FILE_MODE, and the descriptor kept only for a kind
 * of file a log may be, checked on the descriptor itself (no race with a
 * rename).
 */
export function openLogFile(path: string, _flags: unknown, _mode: unknown, done: OpenCallback): void {
  openFile(path, LOG_OPEN_FLAGS, LOG_FILE_MODE, (err, fd) => {
    if (err !== null) return done(err.code === 'ELOOP' ? symlinkRefused(path) : err);
    fstat(fd, (statErr, st) => {
      const refused = statErr ?? kindRefused(path, st);
      if (refused === null) return done(null, fd);
      close(fd, () => done(refused));
    });
  });
}
