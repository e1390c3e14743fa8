// The calls an upgrade in place needs (src/upgrade/): a memfd to carry the
// state across execve, close-on-exec off and on again on exactly the
// descriptors the new image takes over, and execve itself. Node 20 has no
// process.execve (Node 24's exists): one path, through koffi, serves both.
// Bound on first use: only an upgrade calls them, on the main thread.
import { F_GETFD, F_SETFD, FD_CLOEXEC } from './constants.js';
import { SysError, errnoError } from './errors.js';
import { koffi, libcFunction, type KoffiFunction } from './koffi.js';
import { loadSys } from './load.js';

interface ReexecCalls {
  memfdCreate: KoffiFunction;
  fcntl: KoffiFunction;
  execve: KoffiFunction;
  sigaction: KoffiFunction;
}

let bound: ReexecCalls | undefined;

/** Null when every call here can be made, else why not (an upgrade's trial asks: src/upgrade/trial.ts). */
export function reexecAvailable(): SysError | null {
  const c = calls();
  return c instanceof SysError ? c : null;
}

function calls(): ReexecCalls | SysError {
  const sys = loadSys();
  if (sys instanceof SysError) return sys;
  try {
    bound ??= {
      memfdCreate: libcFunction('int memfd_create(const char *name, unsigned int flags)'),
      fcntl: libcFunction('int fcntl(int fd, int cmd, ...)'),
      execve: libcFunction('int execve(const char *path, const char **argv, const char **envp)'),
      sigaction: libcFunction('int sigaction(int signum, const void *act, void *oldact)'),
    };
  } catch (err) {
    return new SysError('ENOSYS', `native calls unavailable: ${err instanceof Error ? err.message : String(err)}`);
  }
  return bound;
}

/** An anonymous in-memory file, inherited across execve (no MFD_CLOEXEC): its descriptor, or why not. */
export function memfdCreate(name: string): number | SysError {
  const c = calls();
  if (c instanceof SysError) return c;
  const fd = c.memfdCreate(name, 0) as number;
  return fd < 0 ? errnoError(koffi().errno(), `memfd_create ${name}`) : fd;
}

/** FD_CLOEXEC on (`inherited` false) or off (true): whether the descriptor goes through the next execve. */
export function setInherited(fd: number, inherited: boolean): SysError | null {
  const c = calls();
  if (c instanceof SysError) return c;
  const flags = c.fcntl(fd, F_GETFD, 'int', 0) as number;
  if (flags < 0) return errnoError(koffi().errno(), `descriptor ${fd}`);
  const next = inherited ? flags & ~FD_CLOEXEC : flags | FD_CLOEXEC;
  return (c.fcntl(fd, F_SETFD, 'int', next) as number) < 0 ? errnoError(koffi().errno(), `descriptor ${fd}`) : null;
}

/** execve(2): never returns when it works; the error when it did not. */
export function execve(path: string, argv: readonly string[], env: readonly string[]): SysError {
  const c = calls();
  if (c instanceof SysError) return c;
  c.execve(path, [...argv, null], [...env, null]);
  return errnoError(koffi().errno(), `execve ${path}`);
}

/**
 * struct sigaction, opaque: glibc's is 152 bytes on x86_64 and aarch64 (a
 * handler, a 128-byte mask, flags, a restorer); room for more does no harm.
 */
const SIGACTION_BYTES = 256;
const SIG_IGN = 1n;

/**
 * Sets each signal to SIG_IGN, which survives execve (a caught signal goes
 * back to its default there, which for these ends the process). Returns how
 * to put back exactly what was there (libuv's handlers), or why it could not
 * be done (nothing is changed then).
 */
export function ignoreThroughExec(signals: readonly number[]): (() => void) | SysError {
  const c = calls();
  if (c instanceof SysError) return c;
  const ignore = Buffer.alloc(SIGACTION_BYTES);
  ignore.writeBigUInt64LE(SIG_IGN, 0);
  const saved: [number, Buffer][] = [];
  const restore = (): void => {
    for (const [signal, old] of saved) c.sigaction(signal, old, null);
  };
  for (const signal of signals) {
    const old = Buffer.alloc(SIGACTION_BYTES);
    if ((c.sigaction(signal, ignore, old) as number) !== 0) {
      const error = errnoError(koffi().errno(), `sigaction ${signal}`);
      restore();
      return error;
    }
    saved.push([signal, old]);
  }
  return restore;
}
