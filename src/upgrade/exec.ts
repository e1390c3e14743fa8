// The step of an upgrade in place with no way back once it works: the state
// goes into a memfd (no close-on-exec), close-on-exec comes off exactly the
// descriptors the state names, and superd execve()s itself: the same node,
// node options, script and arguments, its environment plus
// SUPERD_UPGRADE_STATE=<memfd>. The pid stays; every other descriptor (Node's
// own, builtin connections, status clients) is closed by the kernel.
//
// Signals: a caught signal is back at its default action after execve, and
// for SIGHUP, SIGTERM, SIGINT or SIGUSR2 that ends the process. Set to SIG_IGN
// here, they are ignored through the exec instead, until Node's start sets
// every signal back to its default (node.cc, PlatformInit); bin/superd then
// catches them again as the first thing it does (signals.ts). superd.8 (BUGS)
// says what is left of that window. If execve fails, all of it is undone and
// the old image serves on.
import { closeSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import { ACTED_ON, IGNORED } from '../signals.js';
import { SysError } from '../sys/errors.js';
import { execve, ignoreThroughExec, memfdCreate, setInherited } from '../sys/reexec.js';
import { ownCommandLine, TRIAL_VARIABLE } from './trial.js';
import { encodeState, STATE_VARIABLE, stateDescriptors, type UpgradeState } from './state.js';

/** The memfd's name, as /proc/PID/fd shows it (`/memfd:superd-upgrade-state`): resume.ts checks it. */
export const STATE_MEMFD_NAME = 'superd-upgrade-state';

/** Only returns when the exec failed, everything undone: why. */
export function reexec(state: UpgradeState): SysError {
  const memfd = memfdCreate(STATE_MEMFD_NAME);
  if (memfd instanceof SysError) return memfd;
  const undo: (() => void)[] = [() => closeSync(memfd)];
  const failed = (error: SysError): SysError => {
    for (const step of undo.reverse()) step();
    return error;
  };
  try {
    const text = Buffer.from(encodeState(state));
    for (let at = 0; at < text.length; ) at += writeSync(memfd, text, at, text.length - at, at);
  } catch (err) {
    return failed(new SysError('EIO', `cannot write the upgrade state: ${(err as Error).message}`));
  }
  // Node marks 0, 1 and 2 close-on-exec at its start: the new image's log is the same standard error.
  for (const fd of [0, 1, 2, ...stateDescriptors(state)]) {
    const error = setInherited(fd, true);
    if (error !== null) return failed(error);
    undo.push(() => void setInherited(fd, false));
  }
  const signals = [...ACTED_ON, ...IGNORED].map((name) => constants.signals[name]);
  const restore = ignoreThroughExec(signals);
  if (restore instanceof SysError) return failed(restore);
  undo.push(restore);
  const env = Object.entries(process.env).flatMap(([k, v]) => (v === undefined || k === TRIAL_VARIABLE || k === STATE_VARIABLE ? [] : [`${k}=${v}`]));
  return failed(execve(process.execPath, [process.execPath, ...ownCommandLine()], [...env, `${STATE_VARIABLE}=${memfd}`]));
}
