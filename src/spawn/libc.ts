// The few libc calls Node does not offer, through koffi (a prebuilt FFI: no
// compiler at install time). Loaded lazily so that `superd check` and hosts
// where koffi cannot load still work; callers fall back to child_process.
import { openLibc, type KoffiFunc } from '../koffi.js';

export interface NofileLimits {
  soft: number;
  hard: number;
}

export type AsyncDone = (err: unknown, result: number) => void;

export interface Libc {
  /** kill(2): 0, or -1 with errno (ESRCH: no such process or group). No exception, unlike process.kill. */
  kill(pid: number, signal: number): number;
  /**
   * posix_spawn(2) on a libuv pool thread (koffi's async call): with
   * CLONE_VFORK only that thread waits for the child's exec, never the event
   * loop. `done(err, rc)`: rc is 0 with the pid in pid[0], or an errno value.
   * Every buffer passed must stay untouched until `done` runs.
   */
  posixSpawnAsync(pid: Int32Array, path: string, actions: Buffer, attr: Buffer, argv: (string | null)[], envp: (string | null)[], done: AsyncDone): void;
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
  attrSetSchedPolicy(attr: Buffer, policy: number): number;
  attrSetSchedParam(attr: Buffer, param: Buffer): number;
  /** sched_getscheduler(2) of a thread (0: the calling one): the policy, or -1. */
  schedGetScheduler(tid: number): number;
  /** sched_setscheduler(2) of a thread; `param` is a struct sched_param (one int). 0 or -1. */
  schedSetScheduler(tid: number, policy: number, param: Buffer): number;
  /** waitid(2): 0 (info filled; si_pid 0 when nothing is waitable), -1 on error. */
  waitid(idType: number, id: number, info: Buffer, options: number): number;
  /** pipe2(2): fills fds, returns 0 or -1. */
  pipe2(fds: Int32Array, flags: number): number;
  close(fd: number): number;
  /** read(2) on a libuv pool thread; `done(err, n)` on the event loop. `buf` must stay untouched until then. */
  readAsync(fd: number, buf: Buffer, length: number, done: AsyncDone): void;
  /** close_range(2) with CLOSE_RANGE_CLOEXEC: marks fds first..last close-on-exec. */
  cloexecRange(first: number, last: number): number;
  /** prlimit(2) on RLIMIT_NOFILE of pid (0: superd itself): sets `limits` when given; returns the limits before, or null on error. */
  nofile(pid: number, limits?: NofileLimits): NofileLimits | null;
  /**
   * prlimit(2) of RLIMIT_NOFILE with caller-made struct rlimit buffers (16
   * bytes: soft, hard as 64-bit): no conversion, for the path of every
   * handler. 0 or -1.
   */
  prlimitNofile(pid: number, limits: Buffer | null, old: Buffer | null): number;
  /** SO_PEERCRED of a connected unix socket: who is at the other end. Null on error. */
  peerCredentials(fd: number): { pid: number; uid: number; gid: number } | null;
  errno(): number;
}

// Linux/glibc values (x86_64, aarch64 alike).
export const POSIX_SPAWN_SETPGROUP = 0x02;
export const POSIX_SPAWN_SETSIGDEF = 0x04;
export const POSIX_SPAWN_SETSIGMASK = 0x08;
export const POSIX_SPAWN_SETSCHEDULER = 0x20;
export const POSIX_SPAWN_SETSID = 0x80;
export const O_WRONLY = 1;
export const O_CLOEXEC = 0o2000000;
export const P_ALL = 0;
export const P_PID = 1;
export const WNOHANG = 1;
export const WEXITED = 4;
export const WNOWAIT = 0x01000000;
const CLOSE_RANGE_CLOEXEC = 4;
const RLIMIT_NOFILE = 7;
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

/** Opaque glibc types, given generous room: the real sizes are 80, 336 and 128 bytes. */
export const SIZEOF_ACTIONS = 256;
export const SIZEOF_ATTR = 512;
export const SIZEOF_SIGSET = 256;
/** siginfo_t is 128 bytes on Linux. */
export const SIZEOF_SIGINFO = 128;

let cached: Libc | Error | undefined;

/** The bindings, or the reason they cannot be had on this host. */
export function loadLibc(): Libc | Error {
  if (cached !== undefined) return cached;
  try {
    const libc = openLibc();
    const fn = (sig: string): KoffiFunc => libc.func(sig);
    // `int *pid` receives a typed array: koffi passes its memory, which the
    // pool thread writes directly (an _Out_ array would be copied back later).
    const spawn = fn('int posix_spawn(int *pid, const char *path, void *actions, void *attr, const char **argv, const char **envp)');
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
    const atPolicy = fn('int posix_spawnattr_setschedpolicy(void *attr, int policy)');
    const atParam = fn('int posix_spawnattr_setschedparam(void *attr, const void *param)');
    const getScheduler = fn('int sched_getscheduler(int pid)');
    const setScheduler = fn('int sched_setscheduler(int pid, int policy, const void *param)');
    const wait = fn('int waitid(int idtype, int id, void *info, int options)');
    const pipe = fn('int pipe2(_Out_ int *fds, int flags)');
    const close = fn('int close(int fd)');
    const read = fn('intptr_t read(int fd, void *buf, size_t count)');
    const kill = fn('int kill(int pid, int signal)');
    const closeRange = fn('int close_range(uint32_t first, uint32_t last, int flags)');
    // struct rlimit is two rlim_t (64-bit); struct ucred is three 32-bit ints.
    const prlimit = fn('int prlimit(int pid, int resource, const void *limits, void *old)');
    const getsockopt = fn('int getsockopt(int fd, int level, int name, void *value, void *length)');
    // Reused: these calls are synchronous, on the main thread.
    const rlimitNew = Buffer.alloc(16);
    const rlimitOld = Buffer.alloc(16);
    cached = {
      posixSpawnAsync: (pid, path, actions, attr, argv, envp, done) => spawn.async(pid, path, actions, attr, argv, envp, done),
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
      attrSetSchedPolicy: (a, policy) => atPolicy(a, policy) as number,
      attrSetSchedParam: (a, param) => atParam(a, param) as number,
      schedGetScheduler: (tid) => getScheduler(tid) as number,
      schedSetScheduler: (tid, policy, param) => setScheduler(tid, policy, param) as number,
      waitid: (idType, id, info, options) => wait(idType, id, info, options) as number,
      pipe2: (fds, flags) => pipe(fds, flags) as number,
      close: (fd) => close(fd) as number,
      readAsync: (fd, buf, length, done) => read.async(fd, buf, length, done),
      kill: (pid, signal) => kill(pid, signal) as number,
      cloexecRange: (first, last) => closeRange(first, last, CLOSE_RANGE_CLOEXEC) as number,
      prlimitNofile: (pid, limits, old) => prlimit(pid, RLIMIT_NOFILE, limits, old) as number,
      nofile: (pid, limits) => {
        if (limits !== undefined) {
          rlimitNew.writeBigUInt64LE(BigInt(limits.soft), 0);
          rlimitNew.writeBigUInt64LE(BigInt(limits.hard), 8);
        }
        if ((prlimit(pid, RLIMIT_NOFILE, limits === undefined ? null : rlimitNew, rlimitOld) as number) !== 0) return null;
        return { soft: Number(rlimitOld.readBigUInt64LE(0)), hard: Number(rlimitOld.readBigUInt64LE(8)) };
      },
      peerCredentials: (fd) => {
        const cred = Buffer.alloc(12);
        const length = Buffer.alloc(4);
        length.writeUInt32LE(12, 0);
        if ((getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, length) as number) !== 0) return null;
        return { pid: cred.readInt32LE(0), uid: cred.readUInt32LE(4), gid: cred.readUInt32LE(8) };
      },
      errno: () => libc.errno(),
    };
  } catch (err) {
    cached = err instanceof Error ? err : new Error(String(err));
  }
  return cached;
}
