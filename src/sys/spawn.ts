// posix_spawn(3) and its file actions and attributes (glibc's, opaque here).
import type { AsyncDone } from './fd.js';
import { libcFunction } from './koffi.js';

/** Opaque glibc types, given generous room: the real sizes are 80, 336 and 128 bytes. */
export const SIZEOF_ACTIONS = 256;
export const SIZEOF_ATTR = 512;
export const SIZEOF_SIGSET = 256;

export interface SpawnCalls {
  /**
   * posix_spawn(3) on a libuv pool thread (koffi's async call): with
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
}

export function bindSpawn(): SpawnCalls {
  // `int *pid` receives a typed array: koffi passes its memory, which the
  // pool thread writes directly (an _Out_ array would be copied back later).
  const spawn = libcFunction('int posix_spawn(int *pid, const char *path, void *actions, void *attr, const char **argv, const char **envp)');
  const aInit = libcFunction('int posix_spawn_file_actions_init(void *actions)');
  const aDestroy = libcFunction('int posix_spawn_file_actions_destroy(void *actions)');
  const aDup2 = libcFunction('int posix_spawn_file_actions_adddup2(void *actions, int fd, int newfd)');
  const aOpen = libcFunction('int posix_spawn_file_actions_addopen(void *actions, int fd, const char *path, int flags, uint32_t mode)');
  const aChdir = libcFunction('int posix_spawn_file_actions_addchdir_np(void *actions, const char *path)');
  const aCloseFrom = libcFunction('int posix_spawn_file_actions_addclosefrom_np(void *actions, int from)');
  const atInit = libcFunction('int posix_spawnattr_init(void *attr)');
  const atFlags = libcFunction('int posix_spawnattr_setflags(void *attr, short flags)');
  const atMask = libcFunction('int posix_spawnattr_setsigmask(void *attr, const void *set)');
  const atDef = libcFunction('int posix_spawnattr_setsigdefault(void *attr, const void *set)');
  const atPolicy = libcFunction('int posix_spawnattr_setschedpolicy(void *attr, int policy)');
  const atParam = libcFunction('int posix_spawnattr_setschedparam(void *attr, const void *param)');
  return {
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
  };
}
