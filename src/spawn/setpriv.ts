// Handlers of a service with another `user`/`group` are started through
// util-linux setpriv, a trampoline that switches real, effective and saved
// ids, clears supplementary groups and then execs the program: posix_spawn
// cannot switch users itself, and forking the daemon (child_process) costs
// far more. Changing a daemon thread's ids around the spawn instead would let
// any process of that user signal (tgkill) that thread, and so kill or stop
// superd.
//
// setpriv also clears the inheritable and ambient capability sets (util-linux
// 2.31 or later; a kernel before 4.3 has no ambient set, and setpriv then
// lowers nothing): the kernel clears the ambient set when the uids leave 0,
// but not the inheritable one, from which a program with inheritable file
// capabilities would regain capabilities. The bounding set stays as it is.
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Credentials } from '../config/types.js';
import type { SpawnRequest } from './types.js';

/** Where Debian, Ubuntu, RHEL and Arch put it (usrmerge or not). */
const CANDIDATES = ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv', '/sbin/setpriv'];

/**
 * The setpriv to trust, or why there is none. It runs for every switched
 * handler as root, so it is trusted as the service files are: owned by root
 * and writable by nobody else, nor are the directories above it.
 */
export async function findSetpriv(candidates: readonly string[] = CANDIDATES): Promise<string | Error> {
  return findTrusted('setpriv (util-linux)', candidates);
}

/** The first of `candidates` superd may run as root (as findSetpriv says), or why none. */
export async function findTrusted(what: string, candidates: readonly string[]): Promise<string | Error> {
  const reasons: string[] = [];
  for (const path of candidates) {
    const problem = await untrusted(path);
    if (problem === null) return path;
    if (problem !== 'missing') reasons.push(`${path}: ${problem}`);
  }
  return new Error(reasons.length > 0 ? reasons.join('; ') : `no ${what} in ${candidates.join(', ')}`);
}

async function untrusted(path: string): Promise<string | null> {
  try {
    const st = await stat(path);
    if (!st.isFile()) return 'not a regular file';
    if ((st.mode & 0o111) === 0) return 'not executable';
    if (st.uid !== 0 || (st.mode & 0o022) !== 0) return 'not owned by root or writable by group or others';
    for (let dir = dirname(path); ; dir = dirname(dir)) {
      const d = await stat(dir);
      if (d.uid !== 0 || (d.mode & 0o022) !== 0) return `${dir} is not owned by root or is writable by group or others`;
      if (dir === '/') break;
    }
    return null;
  } catch {
    return 'missing';
  }
}

/** True when the handler must run with other ids than superd's own. */
export function switchesUser(credentials: Credentials | null, self: { uid: number; gid: number }): credentials is Credentials {
  return credentials !== null && (credentials.uid !== self.uid || credentials.gid !== self.gid);
}

/** The options that leave the program no capability to regain from its parent. */
export const CLEAR_CAPABILITIES: readonly string[] = ['--inh-caps=-all', '--ambient-caps=-all'];

/** A trusted setpriv, and what it is asked to clear: CLEAR_CAPABILITIES, or nothing where it refuses them (see probeSetpriv). */
export interface Setpriv {
  path: string;
  clears: readonly string[];
}

/**
 * The same request, run through setpriv: with `credentials`, as that user
 * (ids switched, groups cleared); with null, as superd's own user. setpriv
 * execvp()s its operand, so the program is named by its absolute path, which
 * becomes the handler's argv[0] (SPEC §2). The request names no credentials:
 * setpriv switches, and whatever starts setpriv must not.
 */
export function throughSetpriv(setpriv: Setpriv, req: SpawnRequest, credentials: Credentials | null): SpawnRequest {
  const ids = credentials === null ? [] : [`--reuid=${credentials.uid}`, `--regid=${credentials.gid}`, '--clear-groups'];
  return {
    ...req,
    program: setpriv.path,
    argv: ['setpriv', ...ids, ...setpriv.clears, '--', req.program, ...req.argv.slice(1)],
    credentials: null,
  };
}

/**
 * null when this setpriv accepts CLEAR_CAPABILITIES, else its answer. One
 * before 2.31 knows no --ambient-caps, and one before 2.37 refuses `-all`
 * when its libcap-ng knows fewer capabilities than the kernel (an old
 * distribution in a container on a new kernel): every handler started
 * through it would then exit with status 1 or 127. Asked once, at start.
 */
export function probeSetpriv(setpriv: string, timeoutMs = 5000): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(setpriv, [...CLEAR_CAPABILITIES, '--', setpriv, '--version'], { timeout: timeoutMs, env: {} }, (err, _stdout, stderr) => {
      if (err === null) return resolve(null);
      const said = stderr.trim().split('\n')[0] ?? '';
      resolve(said !== '' ? said : err.message);
    });
  });
}
