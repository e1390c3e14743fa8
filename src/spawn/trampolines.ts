// The programs that apply a service's process settings before its handler's
// first instruction (settings.ts says which does what, and why these),
// found once at start and at every load. Each runs as root for a root
// superd, so each is trusted as setpriv is: owned by root and writable by
// nobody else, nor are the directories above it.
import { findSetpriv, findTrusted } from './setpriv.js';

/** A trusted path, or why there is none. */
export type Tool = string | Error;

export interface Tools {
  /** coreutils nice(1): the nice value. */
  nice: Tool;
  /** dash: umask and the limits, with its builtins. Its ulimit's options and units are dash's (settings.ts), so not whatever /bin/sh is. */
  shell: Tool;
  /** util-linux prlimit(1): a limit that is no whole number of dash's units, set to the byte. */
  prlimit: Tool;
  /** util-linux setpriv: user, groups, no_new_privileges. */
  setpriv: Tool;
}

export async function findTools(): Promise<Tools> {
  const [nice, shell, prlimit, setpriv] = await Promise.all([
    findTrusted('nice (coreutils)', ['/usr/bin/nice', '/bin/nice']),
    findTrusted('dash (apt-get install dash)', ['/usr/bin/dash', '/bin/dash']),
    findTrusted('prlimit (util-linux)', ['/usr/bin/prlimit', '/bin/prlimit']),
    findSetpriv(),
  ]);
  return { nice, shell, prlimit, setpriv };
}
