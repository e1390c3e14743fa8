// Where the control socket lives (SPEC §1), and whether its directory can be
// trusted. A fixed name in /tmp could be taken first by another user, who
// would then answer `superd status` in superd's place or keep superd from
// binding; so without root or $XDG_RUNTIME_DIR it goes in a directory that
// only its user can enter.
import { chmod, lstat, mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import type { SuperdError } from '../errors.js';

/** /tmp itself, not $TMPDIR: superd and its clients must agree without sharing an environment. */
const PRIVATE_PARENT = '/tmp';

export function currentUid(): number {
  return process.getuid?.() ?? 0;
}

export function privateControlDir(uid: number = currentUid()): string {
  return join(PRIVATE_PARENT, `superd-${uid}`);
}

/** /run/superd.sock as root, else $XDG_RUNTIME_DIR/superd.sock, else /tmp/superd-UID/superd.sock. */
export function defaultControlSocket(env: NodeJS.ProcessEnv = process.env, uid: number = currentUid()): string {
  if (uid === 0) return '/run/superd.sock';
  const runtimeDir = env.XDG_RUNTIME_DIR;
  // The XDG spec makes it absolute; a relative one would depend on the working directory.
  if (runtimeDir !== undefined && isAbsolute(runtimeDir)) return join(runtimeDir, 'superd.sock');
  return join(privateControlDir(uid), 'superd.sock');
}

function controlDirError(dir: string, why: string): SuperdError {
  return {
    code: 'control_dir',
    message: `${dir} is not a private directory of uid ${currentUid()}: ${why}; superd will not use it, as another user could answer in superd's place. Remove it, or choose another place with --control-socket or $XDG_RUNTIME_DIR`,
  };
}

/**
 * For a socket in /tmp/superd-UID (whoever named it): that directory must be
 * a real directory (not a symlink), owned by us, mode 0700. The daemon
 * creates it when missing (`create`); a client never does. Other places are
 * the operator's choice and are not checked here.
 */
export async function checkControlDir(socketPath: string, opts: { create: boolean }): Promise<SuperdError | null> {
  const dir = dirname(socketPath);
  const uid = currentUid();
  if (dir !== privateControlDir(uid)) return null;
  if (opts.create) {
    try {
      await mkdir(dir, { mode: 0o700 });
      // Ours, just made: a umask such as 0277 must not leave it unusable.
      await chmod(dir, 0o700);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return { code: 'control_dir', message: `cannot create ${dir}: ${(err as Error).message}` };
    }
  }
  let st;
  try {
    st = await lstat(dir);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return { code: 'no_daemon', message: `${dir} does not exist: no superd of uid ${uid} is running with the default control socket` };
    return controlDirError(dir, e.message);
  }
  if (st.isSymbolicLink()) return controlDirError(dir, 'it is a symbolic link');
  if (!st.isDirectory()) return controlDirError(dir, 'it is not a directory');
  if (st.uid !== uid) return controlDirError(dir, `it is owned by uid ${st.uid}`);
  if ((st.mode & 0o7777) !== 0o700) return controlDirError(dir, `its mode is ${(st.mode & 0o7777).toString(8).padStart(4, '0')}, not 0700`);
  return null;
}
