// Processes: signals, reaping (waitid's siginfo_t), scheduling policy,
// open-files limits.
import { CLD_EXITED, RLIMIT_NOFILE } from './constants.js';
import { koffi, libcFunction } from './koffi.js';
import { structs } from './structs.js';
import { readUint64, writeUint64 } from './uint64.js';

export interface NofileLimits {
  soft: number;
  hard: number;
}

/** A siginfo_t for waitid to fill, reused; only what SIGCHLD fills is read. */
export interface SigInfo {
  readonly buffer: Buffer;
  /** si_pid = 0: waitid with WNOHANG leaves it so when nothing is waitable. */
  clear(): void;
  /** si_pid: the child waitid found, 0 when none (after clear()). */
  readonly pid: number;
  /** si_code is CLD_EXITED: `status` is its exit status, else the signal that ended it. */
  readonly exited: boolean;
  readonly status: number;
}

export interface ProcessCalls {
  /** kill(2): 0, or -1 with errno (ESRCH: no such process or group). No exception, unlike process.kill. */
  kill(pid: number, signal: number): number;
  /** A SigInfo for waitid. */
  sigInfo(): SigInfo;
  /** waitid(2): 0 (info filled; its pid 0 when nothing is waitable), -1 on error. */
  waitid(idType: number, id: number, info: SigInfo, options: number): number;
  /** sched_getscheduler(2) of a thread (0: the calling one): the policy, or -1. */
  schedGetScheduler(tid: number): number;
  /** sched_setscheduler(2) of a thread; `param` is a struct sched_param (one int). 0 or -1. */
  schedSetScheduler(tid: number, policy: number, param: Buffer): number;
  /** prlimit(2) on RLIMIT_NOFILE of pid (0: superd itself): sets `limits` when given; returns the limits before, or null on error. */
  nofile(pid: number, limits?: NofileLimits): NofileLimits | null;
  /**
   * prlimit(2) of RLIMIT_NOFILE with caller-made struct rlimit buffers
   * (SIZEOF_RLIMIT bytes, see writeRlimit): no conversion, for the path of
   * every handler. 0 or -1.
   */
  prlimitNofile(pid: number, limits: Buffer | null, old: Buffer | null): number;
}

/** struct rlimit: two rlim_t, soft then hard (the same on every 64-bit Linux). */
export const SIZEOF_RLIMIT = 16;

export function readRlimit(buf: Buffer): NofileLimits {
  return { soft: readUint64(buf, 0), hard: readUint64(buf, 8) };
}

export function writeRlimit(buf: Buffer, limits: NofileLimits): void {
  writeUint64(buf, 0, limits.soft);
  writeUint64(buf, 8, limits.hard);
}

export function bindProcess(): ProcessCalls {
  const k = koffi();
  const { siginfo, sigchld, rlimit } = structs();
  if (k.sizeof(rlimit) !== SIZEOF_RLIMIT || k.offsetof(rlimit, 'rlim_max') !== 8) throw new Error('struct rlimit is not two 64-bit values here');
  const kill = libcFunction('int kill(int pid, int signal)');
  const waitid = libcFunction('int waitid(int idtype, int id, void *info, int options)');
  const getScheduler = libcFunction('int sched_getscheduler(int pid)');
  const setScheduler = libcFunction('int sched_setscheduler(int pid, int policy, const void *param)');
  const prlimit = libcFunction('int prlimit(int pid, int resource, const void *limits, void *old)');
  const fields = k.offsetof(siginfo, 'sifields');
  const SI_CODE = k.offsetof(siginfo, 'si_code');
  const SI_PID = fields + k.offsetof(sigchld, 'si_pid');
  const SI_STATUS = fields + k.offsetof(sigchld, 'si_status');
  const SIZEOF_SIGINFO = k.sizeof(siginfo);
  // Reused: these calls are synchronous, on the main thread.
  const rlimitNew = Buffer.alloc(SIZEOF_RLIMIT);
  const rlimitOld = Buffer.alloc(SIZEOF_RLIMIT);
  return {
    kill: (pid, signal) => kill(pid, signal) as number,
    sigInfo: () => {
      const buffer = Buffer.alloc(SIZEOF_SIGINFO);
      return {
        buffer,
        clear: () => buffer.writeInt32LE(0, SI_PID),
        get pid() {
          return buffer.readInt32LE(SI_PID);
        },
        get exited() {
          return buffer.readInt32LE(SI_CODE) === CLD_EXITED;
        },
        get status() {
          return buffer.readInt32LE(SI_STATUS);
        },
      };
    },
    waitid: (idType, id, info, options) => waitid(idType, id, info.buffer, options) as number,
    schedGetScheduler: (tid) => getScheduler(tid) as number,
    schedSetScheduler: (tid, policy, param) => setScheduler(tid, policy, param) as number,
    prlimitNofile: (pid, limits, old) => prlimit(pid, RLIMIT_NOFILE, limits, old) as number,
    nofile: (pid, limits) => {
      if (limits !== undefined) writeRlimit(rlimitNew, limits);
      if ((prlimit(pid, RLIMIT_NOFILE, limits === undefined ? null : rlimitNew, rlimitOld) as number) !== 0) return null;
      return readRlimit(rlimitOld);
    },
  };
}
