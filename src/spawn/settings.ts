// A service's process settings (nice, umask, rlimit_*, groups,
// no_new_privileges), applied before the handler's first instruction by a
// chain of trampolines that each set what they can and exec the next:
//
//   nice -n ADJ --  dash -c 'set -e; umask U; ulimit -v N; …; exec "$0" "$@"'  prlimit --as=B:B … --  setpriv … --  PROGRAM ARGS
//   (nice)          (umask, rlimit_*)                                          (odd sizes)           (user, groups, no_new_privileges)
//
// Only the links a service needs are there: a service with none of these
// settings is started as before, at no cost; one with only limits and a
// umask costs one exec (dash), and its setpriv, when it switches users,
// was there already.
//
// Why trampolines: posix_spawn (posix.ts) has no action for limits, nice or
// umask; limits and the umask are per process, so changing superd's own
// around a spawn would race with the other pool threads' spawns (and a
// lowered hard limit could not be raised again); nice is per thread, but a
// pool thread whose priority was lowered cannot get it back without
// CAP_SYS_NICE. A prlimit(2) or setpriority(2) on the new pid would come
// after the handler has started running.
//
// Why these: setpriv already switches users, and does --init-groups and
// --nnp; dash's builtins set the umask and every limit in one exec, where
// prlimit(1) has no umask and would be a second exec; no shell has nice as a
// builtin, so nice(1) is its own exec, for the services that set it. dash
// and not /bin/sh: the options and units of `ulimit` differ between shells
// (bash's -p is the pipe size, dash's the process count), and dash's are
// these: -v -d -s in KiB, -f -c in 512-byte blocks, -t seconds, -n -p
// counts. `ulimit -X N` sets the soft and the hard limit in one call. A size
// that is no whole number of those units (`rlimit_as = 100000000`) would be
// rounded by dash, so it goes to prlimit(1) instead, which sets bytes: that
// link is there only for such a value. `set -e`: a limit that cannot be set
// stops the start (dash says why on stderr, and the exit is logged) rather
// than starting the handler without it; prlimit exits non-zero likewise.
//
// The order: nice and the limits are applied while the chain still runs as
// superd (root may raise a hard limit or a priority, CAP_SYS_RESOURCE and
// CAP_SYS_NICE); setpriv switches to the user last, and execs the program.
// RLIMIT_NPROC then counts the user's processes: the kernel fails the
// handler's exec when the user has too many.
//
// The script and the options hold only numbers superd wrote; the program and
// its arguments are passed as arguments ("$0" "$@"), never put in the
// script. Each trampoline execs the next by path, so the handler's argv[0]
// is its program's absolute path, as with setpriv alone (SPEC §2, `args`).
import type { Credentials, ProcessSettings, RlimitName, RlimitSetting } from '../config/types.js';
import type { Setpriv } from './setpriv.js';
import type { SpawnRequest } from './types.js';

/** The trampolines superd trusts (trampolines.ts), and its own nice value, which nice(1) adds to. */
export interface Trampolines {
  nice: string | null;
  shell: string | null;
  prlimit: string | null;
  setpriv: Setpriv | null;
  ownNice: number;
}

/** dash's ulimit option for each limit, and the unit it counts in (see above). */
const ULIMIT_OPTION: Readonly<Record<RlimitName, string>> = { as: 'v', cpu: 't', core: 'c', data: 'd', fsize: 'f', nofile: 'n', nproc: 'p', stack: 's' };
const ULIMIT_UNIT: Readonly<Record<RlimitName, number>> = { as: 1024, cpu: 1, core: 512, data: 1024, fsize: 512, nofile: 1, nproc: 1, stack: 1024 };

/** Whether dash's ulimit sets exactly this limit; prlimit(1) sets the others. */
export function inShellUnits({ name, value }: RlimitSetting): boolean {
  return value === 'unlimited' || value % ULIMIT_UNIT[name] === 0;
}

/** The dash script that applies the umask and the limits it can set exactly, then execs "$0" "$@"; null when there are none. */
export function shellScript(s: ProcessSettings): string | null {
  const limits = s.rlimits.filter(inShellUnits);
  if (s.umask === null && limits.length === 0) return null;
  const steps = ['set -e'];
  if (s.umask !== null) steps.push(`umask ${s.umask.toString(8).padStart(3, '0')}`);
  for (const { name, value } of limits) {
    steps.push(`ulimit -${ULIMIT_OPTION[name]} ${value === 'unlimited' ? 'unlimited' : String(value / ULIMIT_UNIT[name])}`);
  }
  steps.push('exec "$0" "$@"');
  return steps.join('; ');
}

/** prlimit(1)'s options for the limits dash cannot set exactly (soft and hard, in bytes), or [] when there are none. */
export function prlimitOptions(s: ProcessSettings): string[] {
  return s.rlimits.filter((l) => !inShellUnits(l)).map(({ name, value }) => `--${name}=${String(value)}:${String(value)}`);
}

/** Whose ids setpriv sets (null: it keeps superd's), for a service that switches to `switched` or not (null). */
function setprivIds(s: ProcessSettings, switched: Credentials | null, self: { uid: number; gid: number }): string[] {
  const ids = switched ?? (s.groups ? self : null);
  if (ids === null) return [];
  return [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, s.groups ? '--init-groups' : '--clear-groups'];
}

/**
 * The request through the trampolines `s` needs, with no credentials left
 * for whatever starts it when setpriv switches; or why it cannot be started
 * (a trampoline missing: the load said so already, as an error).
 * `clearOwn`: superd's own handlers go through setpriv anyway (spawner.ts).
 */
export function throughTrampolines(
  t: Trampolines,
  req: SpawnRequest,
  s: ProcessSettings,
  switched: Credentials | null,
  self: { uid: number; gid: number },
  clearOwn: boolean,
): SpawnRequest | string {
  let argv = [req.program, ...req.argv.slice(1)];
  let credentials = req.credentials;
  if (switched !== null || s.groups || s.noNewPrivileges || clearOwn) {
    if (t.setpriv === null) return 'no trusted setpriv (util-linux) to switch the user, set the groups or no_new_privileges';
    argv = [t.setpriv.path, ...setprivIds(s, switched, self), ...(s.noNewPrivileges ? ['--nnp'] : []), ...t.setpriv.clears, '--', ...argv];
    credentials = null;
  }
  const odd = prlimitOptions(s);
  if (odd.length > 0) {
    if (t.prlimit === null) return 'no trusted prlimit (util-linux) to set a limit to the byte';
    argv = [t.prlimit, ...odd, '--', ...argv];
  }
  const script = shellScript(s);
  if (script !== null) {
    if (t.shell === null) return 'no trusted dash to set the umask and the limits';
    argv = [t.shell, '-c', script, ...argv];
  }
  if (s.nice !== null) {
    if (t.nice === null) return 'no trusted nice(1) to set the nice value';
    argv = [t.nice, '-n', String(s.nice - t.ownNice), '--', ...argv];
  }
  const [program = req.program, ...rest] = argv;
  return { ...req, program, argv: [program.slice(program.lastIndexOf('/') + 1), ...rest], credentials };
}
