// Where a running superd's control socket is, asked of the daemon itself
// rather than of our own options (`superd reload --pid-file`): from its
// command line and environment in /proc, parsed as it parsed them (cli.ts's
// daemonOptions, path.ts's default), then confirmed to be a socket that very
// process listens on. Nothing here connects: a socket at that path might be a
// unix service's, and a connection there would start its handler.
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { daemonOptions } from '../cli.js';
import { fail, ok, type Result } from '../errors.js';
import { kernelDev, listeningUnixFiles } from './sockdiag.js';

/**
 * The arguments superd was given (after its script), when the command line
 * is node running superd's entry (bin/superd, or dist/src/cli.js); else null.
 */
export function superdArguments(argv: readonly string[]): string[] | null {
  if (!/^node/.test(basename(argv[0] ?? ''))) return null;
  const at = argv.findIndex((a, i) => i > 0 && !a.startsWith('-'));
  const script = argv[at] ?? '';
  return at > 0 && (basename(script) === 'superd' || script.endsWith('dist/src/cli.js')) ? argv.slice(at + 1) : null;
}

/** /proc/PID/environ as variables: NUL-separated NAME=VALUE. */
export function parseEnviron(text: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const entry of text.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

const errnoText = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? String(err);

/** The control socket path superd pid computed for itself. */
async function computedPath(pid: number): Promise<Result<string, string>> {
  let cmdline: string, environ: string, status: string, cwd: string;
  try {
    [cmdline, environ, status, cwd] = await Promise.all([
      readFile(`/proc/${pid}/cmdline`, 'utf8'),
      readFile(`/proc/${pid}/environ`, 'utf8'),
      readFile(`/proc/${pid}/status`, 'utf8'),
      readlink(`/proc/${pid}/cwd`),
    ]);
  } catch (err) {
    return fail(`cannot read its command line and environment in /proc/${pid} (${errnoText(err)})`);
  }
  const args = superdArguments(cmdline.split('\0').filter((a) => a !== ''));
  const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
  if (args === null || !Number.isInteger(uid)) return fail(`/proc/${pid} is not a superd's`);
  const options = daemonOptions(args, parseEnviron(environ), uid, cwd);
  return options.ok ? ok(options.value.controlSocket) : fail(`cannot read its options: ${options.error}`);
}

/** The socket inodes pid holds (/proc/PID/fd links `socket:[N]`). */
async function socketInodes(pid: number): Promise<Set<number>> {
  const inodes = new Set<number>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m !== null) inodes.add(Number(m[1]));
  }
  return inodes;
}

/**
 * Whether pid listens on the socket file at path: 'yes', 'no', or why that
 * cannot be told here (another network namespace, no sock_diag, /proc/PID/fd
 * unreadable).
 */
export async function listensOn(pid: number, path: string): Promise<'yes' | 'no' | { unknown: string }> {
  const [ours, theirs] = await Promise.all([readlink('/proc/self/ns/net').catch(() => 'self'), readlink(`/proc/${pid}/ns/net`).catch(() => 'unknown')]);
  if (ours !== theirs) return { unknown: 'it runs in another network namespace' };
  let held: Set<number>;
  try {
    held = await socketInodes(pid);
  } catch (err) {
    return { unknown: `cannot read /proc/${pid}/fd (${errnoText(err)})` };
  }
  const listening = listeningUnixFiles();
  if (!listening.ok) return { unknown: listening.error };
  const st = await lstat(path, { bigint: false });
  const ino = st.ino % 2 ** 32; // sock_diag has 32 bits of it
  const dev = kernelDev(st.dev);
  for (const socket of held) {
    const file = listening.value.get(socket);
    if (file !== undefined && file.ino === ino && file.dev === dev) return 'yes';
  }
  return 'no';
}

/**
 * superd pid's control socket: where it put it, once that is seen to be a
 * socket it listens on. When that cannot be seen (listensOn's unknown), the
 * path it computed for itself stands: it is its control socket unless it
 * could not open it, and the client still checks who answers there.
 */
export async function findControlSocket(pid: number): Promise<Result<string, string>> {
  const computed = await computedPath(pid);
  if (!computed.ok) return computed;
  const path = computed.value;
  try {
    if (!(await lstat(path)).isSocket()) return fail(`${path}, its control socket, is not a socket`);
  } catch (err) {
    return fail(`${path}, its control socket, cannot be reached (${errnoText(err)}): see control_socket in its log`);
  }
  const listens = await listensOn(pid, path).catch((err: unknown) => ({ unknown: errnoText(err) }));
  if (listens === 'no') return fail(`${path}, where it would put its control socket, is not a socket it listens on (see control_socket in its log); not connected to, as it may be a service's`);
  return ok(path);
}
