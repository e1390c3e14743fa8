// The per-service process settings (SPEC §2): nice, umask, rlimit_*, groups
// and no_new_privileges. They are applied before the handler's first
// instruction by trampolines (spawn/settings.ts says which, and why), so a
// setting is only valid when superd can apply it on this host: what it may
// do (root, CAP_SYS_RESOURCE, CAP_SYS_NICE, its own hard limits) and which
// trampolines it trusts are facts read once per load (process-facts.ts) and
// passed in, so that this stays pure. A setting that cannot be applied is an
// error at its key's line, for `check` and the daemon alike: the handler
// would otherwise start without it.
import { fail, ok } from '../errors.js';
import { inShellUnits } from '../spawn/settings.js';
import { clip } from './clip.js';
import type { ProcessFacts, Tool } from './process-facts.js';
import type { Reader } from './section-reader.js';
import type { Key } from './suggest.js';
import { userIndex, type UserDb } from './systemdb.js';
import { RLIMIT_NAMES, type Credentials, type Handler, type ProcessSettings, type RlimitName } from './types.js';
import { parseBool, type Parsed } from './values.js';

/** Who superd is and what it may do, as validation sees it. */
export interface ProcessContext {
  selfUid: number;
  selfGid: number;
  passwd: UserDb;
  /** Absent: only the values are checked (unit tests of other keys). load.ts always passes them. */
  facts?: ProcessFacts;
}

export type RlimitValue = number | 'unlimited';

const SUFFIX: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

const WHAT: Readonly<Record<RlimitName, string>> = {
  as: 'bytes', cpu: 'seconds of CPU time', core: 'bytes', data: 'bytes', fsize: 'bytes', nofile: 'open files', nproc: 'processes of its user', stack: 'bytes',
};

const got = (v: string): string => `, got '${clip(v)}'`;

export function parseRlimit(name: RlimitName, v: string): Parsed<RlimitValue> {
  const key = `rlimit_${name}`;
  if (v.toLowerCase() === 'unlimited') return ok('unlimited');
  const m = /^(\d+)([kKmMgG]?)$/.exec(v);
  const n = m === null ? NaN : Number(m[1]) * (SUFFIX[(m[2] ?? '').toLowerCase()] ?? NaN);
  return Number.isSafeInteger(n) ? ok(n) : fail(`${key} must be a number of ${WHAT[name]}, with an optional K, M or G suffix (1024-based), or unlimited${got(v)}`);
}

export function parseNice(v: string): Parsed<number> {
  const n = /^[+-]?\d{1,3}$/.test(v) ? Number(v) : NaN;
  return n >= -20 && n <= 19 ? ok(n) : fail(`nice must be a whole number from -20 (highest priority) to 19 (lowest)${got(v)}`);
}

export function parseUmask(v: string): Parsed<number> {
  return /^[0-7]{1,4}$/.test(v) && parseInt(v, 8) <= 0o777 ? ok(parseInt(v, 8)) : fail(`umask must be octal permission bits to clear, like 027 (at most 0777)${got(v)}`);
}

const rlimitKey = (name: RlimitName): Key => `rlimit_${name}` as Key;

/** The settings a section sets, or null when it sets none (then no trampoline: the fast path). */
export function readProcessSettings(r: Reader, handler: Handler | null, credentials: Credentials | null, ctx: ProcessContext): ProcessSettings | null {
  if (handler?.kind === 'builtin') return null; // handler-keys.ts reported each of these keys
  const settings: ProcessSettings = {
    nice: r.field<number | null>('nice', null, parseNice),
    umask: r.field<number | null>('umask', null, parseUmask),
    rlimits: [],
    groups: r.field('groups', false, (v) => parseBool('groups', v)),
    noNewPrivileges: r.field('no_new_privileges', false, (v) => parseBool('no_new_privileges', v)),
  };
  for (const name of RLIMIT_NAMES) {
    const value = r.field<RlimitValue | null>(rlimitKey(name), null, (v) => parseRlimit(name, v));
    if (value !== null) settings.rlimits.push({ name, value });
  }
  const none = settings.nice === null && settings.umask === null && settings.rlimits.length === 0 && !settings.groups && !settings.noNewPrivileges;
  if (none) return null;
  if (ctx.facts !== undefined) checkApplicable(r, settings, credentials, ctx, ctx.facts);
  return settings;
}

/** Each setting superd could not apply on this host, reported at its key's line. */
function checkApplicable(r: Reader, s: ProcessSettings, credentials: Credentials | null, ctx: ProcessContext, facts: ProcessFacts): void {
  const needs = (key: Key, tool: Tool, what: string): void => {
    if (tool instanceof Error) r.report('cannot_apply', key, `${key} needs ${what}, which superd runs before the handler to apply it: ${tool.message}`);
  };
  if (s.nice !== null) {
    needs('nice', facts.tools.nice, 'nice(1) (coreutils)');
    if (s.nice < facts.lowestNice) {
      r.report('cannot_apply', 'nice', `nice = ${s.nice} is a higher priority than superd may give (its own nice value is ${facts.ownNice}, and it has no CAP_SYS_NICE): ` +
        `set ${facts.lowestNice} or more, or run superd as root or with CAP_SYS_NICE`);
    }
  }
  if (s.umask !== null) needs('umask', facts.tools.shell, 'dash (its umask and ulimit builtins)');
  for (const limit of s.rlimits) {
    const { name, value } = limit;
    const key = rlimitKey(name);
    if (inShellUnits(limit)) needs(key, facts.tools.shell, 'dash (its umask and ulimit builtins)');
    else needs(key, facts.tools.prlimit, `prlimit (util-linux), as ${String(value)} is no whole number of the units dash's ulimit sets`);
    const problem = rlimitProblem(name, value, facts);
    if (problem !== null) r.report('cannot_apply', key, `${key} = ${value}: ${problem}`);
  }
  const switched = credentials !== null && (credentials.uid !== ctx.selfUid || credentials.gid !== ctx.selfGid);
  if (switched && (s.nice !== null || s.umask !== null || s.rlimits.length > 0)) {
    // The trampolines run as superd and setpriv switches last: child_process would switch first, and a raised limit or priority would fail.
    const key: Key = s.nice !== null ? 'nice' : s.umask !== null ? 'umask' : rlimitKey(s.rlimits[0]?.name ?? 'as');
    needs(key, facts.tools.setpriv, 'setpriv (util-linux) to switch to the user after it is applied');
  }
  if (s.noNewPrivileges) needs('no_new_privileges', facts.tools.setpriv, 'setpriv (util-linux) --nnp');
  if (s.groups) checkGroups(r, credentials, ctx, facts);
}

/** Why superd cannot set this limit (soft and hard) on a handler, or null. */
export function rlimitProblem(name: RlimitName, value: RlimitValue, facts: ProcessFacts): string | null {
  if (name === 'nofile' && facts.nrOpen !== null && (value === 'unlimited' || value > facts.nrOpen)) {
    return `no process may have more open files than the kernel's fs.nr_open (${facts.nrOpen}), not even root: set at most ${facts.nrOpen}, or raise fs.nr_open (sysctl)`;
  }
  const hard = facts.hard[name];
  if (facts.capSysResource || hard === undefined || hard === 'unlimited') return null;
  if (value !== 'unlimited' && value <= hard) return null;
  return `superd's own hard limit is ${hard}, and raising a hard limit needs CAP_SYS_RESOURCE, which superd does not have: ` +
    `set at most ${hard}, or start superd with a higher limit (systemd: Limit${name.toUpperCase()}=) or as root`;
}

function checkGroups(r: Reader, credentials: Credentials | null, ctx: ProcessContext, facts: ProcessFacts): void {
  if (!facts.root) {
    r.report('cannot_apply', 'groups', `groups = yes needs superd to run as root: only root can give a handler supplementary groups (superd runs as uid ${ctx.selfUid}, and its handlers keep its own groups)`);
    return;
  }
  const uid = credentials?.uid ?? ctx.selfUid;
  if (!userIndex(ctx.passwd).userByUid.has(uid)) {
    r.report('cannot_apply', 'groups', `groups = yes needs a user the system knows, whose groups it can look up: uid ${uid} has no entry (/etc/passwd, NSS): name a known user, or remove groups`);
  }
  if (facts.tools.setpriv instanceof Error) r.report('cannot_apply', 'groups', `groups needs setpriv (util-linux) --init-groups: ${facts.tools.setpriv.message}`);
}
