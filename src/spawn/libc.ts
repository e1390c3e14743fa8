// The few libc calls Node does not offer, through koffi (a prebuilt FFI: no
// compiler at install time). Loaded lazily so that `superd check` and hosts
// where koffi cannot load still work; callers fall back to child_process.
import { createRequire } from 'node:module';

export interface Libc {
  /** posix_spawn(2): returns 0 and sets pid[0], or an errno value. */
  posixSpawn(pid: number[], path: string, actions: Buffer, attr: Buffer, argv: (string | null)[], envp: (string | null)[]): number;
  actionsInit(actions: Buffer): number;
  actionsDestroy(actions: Buffer): number;
  actionsDup2(actions: Buffer, fd: number, newFd: number): number;
  actionsOpen(actions: Buffer, fd: number, path: string, flags: number, mode: number): number;
  actionsChdir(actions: Buffer, path: string): number;
  actionsCloseFrom(actions: Buffer, lowFd: number): number;
  attrInit(attr: Buffer): number;
  attrSetFlags(attr: Buffer, flags: number): number;
  attrSetSigMask(attr: Buffer, set: Buffer): number;
  attrSetSigDefault(attr: Buffer, set: Buffer): number;
  /** waitpid(2) with WNOHANG: pid, 0 when still running, -1 on error. */
  waitpid(pid: number, status: Int32Array, options: number): number;
  /** pipe2(2): fills fds, returns 0 or -1. */
  pipe2(fds: Int32Array, flags: number): number;
  close(fd: number): number;
  getFlags(fd: number): number;
  setFlags(fd: number, flags: number): number;
  /** close_range(2) with CLOSE_RANGE_CLOEXEC: marks fds first..last close-on-exec. */
  cloexecRange(first: number, last: number): number;
  errno(): number;
}

// Linux/glibc values (x86_64, aarch64 alike).
export const POSIX_SPAWN_SETSIGDEF = 0x04;
export const POSIX_SPAWN_SETSIGMASK = 0x08;
export const POSIX_SPAWN_SETSID = 0x80;
export const WNOHANG = 1;
export const O_NONBLOCK = 0o4000;
export const O_WRONLY = 1;
export const O_CLOEXEC = 0o2000000;
const F_GETFL = 3;
const F_SETFL = 4;
const CLOSE_RANGE_CLOEXEC = 4;

/** Opaque glibc types, given generous room: the real sizes are 80, 336 and 128 bytes. */
export const SIZEOF_ACTIONS = 256;
export const SIZEOF_ATTR = 512;
export const SIZEOF_SIGSET = 256;

interface KoffiFunc {
  (...args: unknown[]): unknown;
}
interface KoffiLib {
  func(signature: string): KoffiFunc;
}
interface Koffi {
  load(name: string): KoffiLib;
  errno(): number;
}

let cached: Libc | Error | undefined;

/** The bindings, or the reason they cannot be had on this host. */
export function loadLibc(): Libc | Error {
  if (cached !== undefined) return cached;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    const lib = koffi.load('libc.so.6');
    const fn = (sig: string): KoffiFunc => lib.func(sig);
    const spawn = fn('int posix_spawn(_Out_ int *pid, const char *path, void *actions, void *attr, const char **argv, const char **envp)');
    const aInit = fn('int posix_spawn_file_actions_init(void *actions)');
    const aDestroy = fn('int posix_spawn_file_actions_destroy(void *actions)');
    const aDup2 = fn('int posix_spawn_file_actions_adddup2(void *actions, int fd, int newfd)');
    const aOpen = fn('int posix_spawn_file_actions_addopen(void *actions, int fd, const char *path, int flags, uint32_t mode)');
    const aChdir = fn('int posix_spawn_file_actions_addchdir_np(void *actions, const char *path)');
    const aCloseFrom = fn('int posix_spawn_file_actions_addclosefrom_np(void *actions, int from)');
    const atInit = fn('int posix_spawnattr_init(void *attr)');
    const atFlags = fn('int posix_spawnattr_setflags(void *attr, short flags)');
    const atMask = fn('int posix_spawnattr_setsigmask(void *attr, const void *set)');
    const atDef = fn('int posix_spawnattr_setsigdefault(void *attr, const void *set)');
    const wait = fn('int waitpid(int pid, _Out_ int *status, int options)');
    const pipe = fn('int pipe2(_Out_ int *fds, int flags)');
    const close = fn('int close(int fd)');
    const fcntl = fn('int fcntl(int fd, int cmd, ...)');
    const closeRange = fn('int close_range(uint32_t first, uint32_t last, int flags)');
    cached = {
      posixSpawn: (pid, path, actions, attr, argv, envp) => spawn(pid, path, actions, attr, argv, envp) as number,
      actionsInit: (a) => aInit(a) as number,
      actionsDestroy: (a) => aDestroy(a) as number,
      actionsDup2: (a, fd, newFd) => aDup2(a, fd, newFd) as number,
      actionsOpen: (a, fd, path, flags, mode) => aOpen(a, fd, path, flags, mode) as number,
      actionsChdir: (a, path) => aChdir(a, path) as number,
      actionsCloseFrom: (a, low) => aCloseFrom(a, low) as number,
      attrInit: (a) => atInit(a) as number,
      attrSetFlags: (a, flags) => atFlags(a, flags) as number,
      attrSetSigMask: (a, set) => atMask(a, set) as number,
      attrSetSigDefault: (a, set) => atDef(a, set) as number,
      waitpid: (pid, status, options) => wait(pid, status, options) as number,
      pipe2: (fds, flags) => pipe(fds, flags) as number,
      close: (fd) => close(fd) as number,
      getFlags: (fd) => fcntl(fd, F_GETFL) as number,
      setFlags: (fd, flags) => fcntl(fd, F_SETFL, 'int', flags) as number,
      cloexecRange: (first, last) => closeRange(first, last, CLOSE_RANGE_CLOEXEC) as number,
      errno: () => koffi.errno(),
    };
  } catch (err) {
    cached = err instanceof Error ? err : new Error(String(err));
  }
  return cached;
}
