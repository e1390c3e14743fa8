// The per-service process settings (SPEC §2), pure: parsed with their units,
// refused at the key's line where superd cannot apply them on the host the
// facts describe (its hard limits, CAP_SYS_RESOURCE, CAP_SYS_NICE, root, the
// trampolines it trusts), and the trampoline chain a service gets: only the
// links it needs, in an order that applies the privileged settings before
// setpriv switches users, the program and its arguments never in the script.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { scanIni } from '../src/config/scan.js';
import { parseSection, type ValidateContext } from '../src/config/validate.js';
import { parseLimits, parseNice, processFacts, type ProcessFacts } from '../src/config/process-facts.js';
import type { Credentials, ProcessSettings } from '../src/config/types.js';
import { prlimitOptions, shellScript, throughTrampolines, type Trampolines } from '../src/spawn/settings.js';
import type { SpawnRequest } from '../src/spawn/types.js';
import { systemDatabases } from './helpers/config.js';

const TOOLS = { nice: '/usr/bin/nice', shell: '/usr/bin/dash', prlimit: '/usr/bin/prlimit', setpriv: '/usr/bin/setpriv' };

/** A root superd with every capability, hard limits as a typical host has them. */
const ROOT_FACTS: ProcessFacts = {
  root: true, capSysResource: true, ownNice: 0, lowestNice: -20,
  hard: { nofile: 1048576, nproc: 63000, as: 'unlimited', cpu: 'unlimited', core: 'unlimited', data: 'unlimited', fsize: 'unlimited', stack: 'unlimited' },
  nrOpen: 1048576, tools: TOOLS,
};
/** An ordinary user: no capability, nofile hard 4096, stack hard 8M. */
const USER_FACTS: ProcessFacts = { ...ROOT_FACTS, root: false, capSysResource: false, lowestNice: 0, hard: { ...ROOT_FACTS.hard, nofile: 4096, stack: 8 * 1024 * 1024 } };

function ctx(facts: ProcessFacts | undefined, selfUid = 0): ValidateContext {
  const dbs = systemDatabases([['root', 0, 0], ['nobody', 65534, 65534], ['me', 1000, 1000]], [['root', 0], ['nogroup', 65534]], '');
  return { ...dbs, selfUid, selfGid: selfUid, ...(facts === undefined ? {} : { facts }) };
}

/** `[p]` on line 1, `port` and `server` on 2 and 3, then each key from line 4. */
function section(lines: string[], c: ValidateContext = ctx(ROOT_FACTS)): ReturnType<typeof parseSection> {
  const scan = scanIni('/s/p.conf', ['[p]', 'port = 7000', 'server = /bin/cat', ...lines].join('\n'));
  const first = scan.sections[0];
  assert.ok(first !== undefined && scan.errors.length === 0);
  return parseSection('/s/p.conf', first, c);
}

function settingsOf(lines: string[], c?: ValidateContext): ProcessSettings | undefined {
  const r = section(lines, c);
  assert.deepEqual(r.errors, []);
  return r.definition?.settings;
}

/** The one error, at `line`, with `code`, whose message matches. */
function refused(lines: string[], line: number, code: string, message: RegExp, c?: ValidateContext): void {
  const r = section(lines, c);
  assert.equal(r.definition, null);
  assert.deepEqual(r.errors.map((e) => [e.line, e.code]), [[line, code]], JSON.stringify(r.errors));
  assert.match(r.errors[0]?.message ?? '', message);
}

describe('process settings: values', () => {
  test('none set: no settings at all (the fast path)', () => {
    assert.equal(settingsOf([]), undefined);
    assert.equal(settingsOf(['groups = no', 'no_new_privileges = no']), undefined);
  });
  test('every key, with suffixes, unlimited, and the limits in a fixed order', () => {
    const s = settingsOf(['rlimit_stack = 8M', 'nice = -5', 'umask = 027', 'rlimit_as = 1g', 'rlimit_cpu = 30', 'rlimit_core = 0', 'rlimit_data = 512K',
      'rlimit_fsize = 1536', 'rlimit_nofile = 64', 'rlimit_nproc = unlimited', 'groups = yes', 'no_new_privileges = yes']);
    assert.deepEqual(s, {
      nice: -5, umask: 0o27, groups: true, noNewPrivileges: true,
      rlimits: [
        { name: 'as', value: 1024 ** 3 }, { name: 'cpu', value: 30 }, { name: 'core', value: 0 }, { name: 'data', value: 512 * 1024 },
        { name: 'fsize', value: 1536 }, { name: 'nofile', value: 64 }, { name: 'nproc', value: 'unlimited' }, { name: 'stack', value: 8 * 1024 ** 2 },
      ],
    });
  });
  test('a size need not be a whole KiB: bytes are bytes', () => {
    assert.deepEqual(settingsOf(['rlimit_as = 100000000', 'rlimit_fsize = 1000'])?.rlimits, [{ name: 'as', value: 100000000 }, { name: 'fsize', value: 1000 }]);
  });
  test('bad values are refused at their line, saying what is right', () => {
    refused(['nice = 20'], 4, 'bad_value', /nice must be a whole number from -20 \(highest priority\) to 19 \(lowest\), got '20'/);
    refused(['nice = -21'], 4, 'bad_value', /from -20/);
    refused(['umask = 0800'], 4, 'bad_value', /umask must be octal permission bits to clear, like 027/);
    refused(['umask = 1000'], 4, 'bad_value', /at most 0777/);
    refused(['rlimit_as = 10T'], 4, 'bad_value', /rlimit_as must be a number of bytes, with an optional K, M or G suffix \(1024-based\), or unlimited, got '10T'/);
    refused(['rlimit_nofile = -1'], 4, 'bad_value', /rlimit_nofile must be a number of open files/);
    refused(['groups = maybe'], 4, 'bad_value', /groups must be yes or no/);
    refused(['rlimit_files = 10'], 4, 'unknown_key', /did you mean 'rlimit_nofile'/);
  });
  test('a builtin takes none of them: it runs inside superd', () => {
    const scan = scanIni('/s/p.conf', '[p]\nport = 7\nbuiltin = echo\nnice = 5\nrlimit_as = 1M\n');
    const r = parseSection('/s/p.conf', scan.sections[0] as (typeof scan.sections)[number], ctx(ROOT_FACTS));
    assert.deepEqual(r.errors.map((e) => [e.line, e.code]), [[4, 'bad_combination'], [5, 'bad_combination']]);
  });
});

describe('process settings: what superd can apply', () => {
  test('root with the capabilities: raising limits and the priority is fine', () => {
    assert.ok(settingsOf(['nice = -20', 'rlimit_nofile = 1048576', 'rlimit_stack = unlimited', 'groups = yes', 'user = nobody']));
  });
  test('without CAP_SYS_RESOURCE: a limit above superd\'s own hard one, or unlimited, is an error at its line', () => {
    const c = ctx(USER_FACTS, 1000);
    refused(['rlimit_nofile = 5000'], 4, 'cannot_apply',
      /^rlimit_nofile = 5000: superd's own hard limit is 4096, and raising a hard limit needs CAP_SYS_RESOURCE, which superd does not have: set at most 4096, or start superd with a higher limit \(systemd: LimitNOFILE=\) or as root$/, c);
    refused(['rlimit_stack = unlimited'], 4, 'cannot_apply', /rlimit_stack = unlimited: superd's own hard limit is 8388608/, c);
    assert.ok(settingsOf(['rlimit_nofile = 4096', 'rlimit_stack = 8M', 'rlimit_as = unlimited'], c), 'up to the hard limit, and unlimited where it is');
    // Root without the capability (a container that drops it) is held to the same.
    refused(['rlimit_nofile = 5000'], 4, 'cannot_apply', /CAP_SYS_RESOURCE/, ctx({ ...USER_FACTS, root: true }));
  });
  test('rlimit_nofile past fs.nr_open is an error even for root', () => {
    refused(['rlimit_nofile = 1048577'], 4, 'cannot_apply', /more open files than the kernel's fs\.nr_open \(1048576\), not even root: set at most 1048576, or raise fs\.nr_open/);
    refused(['rlimit_nofile = unlimited'], 4, 'cannot_apply', /fs\.nr_open/);
  });
  test('nice below superd\'s own needs CAP_SYS_NICE', () => {
    const c = ctx({ ...USER_FACTS, ownNice: 5, lowestNice: 5 }, 1000);
    refused(['nice = 4'], 4, 'cannot_apply', /nice = 4 is a higher priority than superd may give \(its own nice value is 5, and it has no CAP_SYS_NICE\): set 5 or more/, c);
    assert.ok(settingsOf(['nice = 5'], c));
    assert.ok(settingsOf(['nice = 19'], c));
  });
  test('groups = yes needs root and a user the system knows', () => {
    refused(['groups = yes'], 4, 'cannot_apply', /groups = yes needs superd to run as root: only root can give a handler supplementary groups \(superd runs as uid 1000/, ctx(USER_FACTS, 1000));
    refused(['groups = yes', 'user = 4242', 'group = 0'], 4, 'cannot_apply', /groups = yes needs a user the system knows, whose groups it can look up: uid 4242 has no entry/);
    assert.ok(settingsOf(['groups = yes']), "root's own handlers: root's groups");
  });
  test('no_new_privileges works for any user', () => {
    assert.deepEqual(settingsOf(['no_new_privileges = yes'], ctx(USER_FACTS, 1000))?.noNewPrivileges, true);
  });
  test('a trampoline superd does not trust or cannot find: every key that needs it is an error', () => {
    const missing = {
      ...ROOT_FACTS,
      tools: { nice: new Error('no nice (coreutils) in /usr/bin/nice'), shell: new Error('/usr/bin/dash: not owned by root'), prlimit: new Error('no prlimit'), setpriv: new Error('no setpriv') },
    };
    const r = section(['nice = 1', 'umask = 077', 'rlimit_core = 0', 'no_new_privileges = yes', 'groups = yes', 'rlimit_as = 1000'], ctx(missing));
    assert.deepEqual(r.errors.map((e) => [e.line, e.code]).sort((a, b) => Number(a[0]) - Number(b[0])), [[4, 'cannot_apply'], [5, 'cannot_apply'], [6, 'cannot_apply'], [7, 'cannot_apply'], [8, 'cannot_apply'], [9, 'cannot_apply']]);
    assert.match(r.errors[0]?.message ?? '', /^nice needs nice\(1\) \(coreutils\), which superd runs before the handler to apply it: no nice/);
    assert.match(r.errors[1]?.message ?? '', /^umask needs dash \(its umask and ulimit builtins\), which superd runs .*not owned by root/);
    assert.match(r.errors.find((e) => e.line === 9)?.message ?? '', /^rlimit_as needs prlimit \(util-linux\), as 1000 is no whole number of the units dash's ulimit sets, .*no prlimit/);
    // A whole number of dash's units needs no prlimit.
    assert.ok(settingsOf(['rlimit_as = 1M', 'rlimit_fsize = 1024'], ctx({ ...ROOT_FACTS, tools: { ...TOOLS, prlimit: new Error('no prlimit') } })));
    // A user switch after the settings needs setpriv even where child_process could switch alone.
    const noSetpriv = { ...ROOT_FACTS, tools: { ...TOOLS, setpriv: new Error('no setpriv') } };
    refused(['user = nobody', 'umask = 077'], 5, 'cannot_apply', /umask needs setpriv \(util-linux\) to switch to the user after it is applied/, ctx(noSetpriv));
    assert.ok(settingsOf(['umask = 077'], ctx(noSetpriv)), 'superd\'s own user needs no setpriv for a umask');
  });
  test('without facts (unit tests of other keys) only the values are checked', () => {
    assert.ok(settingsOf(['rlimit_nofile = unlimited', 'groups = yes'], ctx(undefined, 1000)));
  });
});

describe('process facts from /proc', () => {
  const LIMITS = [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max cpu time              unlimited            unlimited            seconds   ',
    'Max stack size            8388608              unlimited            bytes     ',
    'Max processes             96367                96367                processes ',
    'Max open files            1024                 4096                 files     ',
    'Max nice priority         0                    0                    ',
    'Max realtime priority     0                    0                    ',
  ].join('\n');
  test('limits, nice and capabilities', () => {
    assert.deepEqual(parseLimits(LIMITS), {
      cpu: { soft: 'unlimited', hard: 'unlimited' }, stack: { soft: 8388608, hard: 'unlimited' }, nproc: { soft: 96367, hard: 96367 },
      nofile: { soft: 1024, hard: 4096 }, nice: { soft: 0, hard: 0 },
    });
    const stat = '4242 (a) b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 -3 1 0 100 1000 100';
    assert.equal(parseNice(stat), -3);
    const caps = (eff: string): string => `CapInh:\t0000000000000000\nCapPrm:\t${eff}\nCapEff:\t${eff}\nCapBnd:\t000001ffffffffff\n`;
    const user = processFacts(1000, caps('0000000000000000'), LIMITS, stat, '1048576\n', TOOLS);
    assert.deepEqual({ ...user, tools: null }, {
      root: false, capSysResource: false, ownNice: -3, lowestNice: -3, nrOpen: 1048576, tools: null,
      hard: { cpu: 'unlimited', stack: 'unlimited', nproc: 96367, nofile: 4096 },
    });
    const root = processFacts(0, caps('000001ffffffffff'), LIMITS, stat, null, TOOLS);
    assert.deepEqual([root.root, root.capSysResource, root.lowestNice, root.nrOpen], [true, true, -20, null]);
    // RLIMIT_NICE 30 lets an unprivileged process go down to 20 - 30 = -10.
    const niceLimit = processFacts(1000, caps('0'), LIMITS.replace('Max nice priority         0                    0', 'Max nice priority         30                   30'), stat, null, TOOLS);
    assert.equal(niceLimit.lowestNice, -10);
  });
});

describe('the trampoline chain', () => {
  const T: Trampolines = { nice: '/usr/bin/nice', shell: '/usr/bin/dash', prlimit: '/usr/bin/prlimit', setpriv: { path: '/usr/bin/setpriv', clears: ['--inh-caps=-all'] }, ownNice: 2 };
  const SELF = { uid: 0, gid: 0 };
  const NOBODY: Credentials = { uid: 65534, gid: 65534, label: 'nobody(65534)' };
  const none: ProcessSettings = { nice: null, umask: null, rlimits: [], groups: false, noNewPrivileges: false };
  const req = (credentials: Credentials | null = null): SpawnRequest => ({
    program: '/usr/sbin/in.x', argv: ['in.x', '-a', '$(reboot)', "it's"], env: [], fd: 5, stderr: 'log', credentials,
  });
  const argvOf = (r: SpawnRequest | string): string[] => {
    assert.ok(typeof r !== 'string', String(r));
    return [r.program, ...r.argv];
  };

  test('the shell script holds only numbers superd wrote, in dash units', () => {
    assert.equal(shellScript(none), null);
    assert.equal(shellScript({ ...none, nice: 3 }), null);
    assert.equal(shellScript({ ...none, umask: 0o7, rlimits: [{ name: 'as', value: 100 * 1024 ** 2 }, { name: 'core', value: 1024 }, { name: 'cpu', value: 2 }, { name: 'nproc', value: 'unlimited' }] }),
      'set -e; umask 007; ulimit -v 102400; ulimit -c 2; ulimit -t 2; ulimit -p unlimited; exec "$0" "$@"');
  });
  test('a size dash would round goes to prlimit, to the byte, soft and hard; the rest stay with dash', () => {
    const s: ProcessSettings = { ...none, rlimits: [{ name: 'as', value: 100000000 }, { name: 'nofile', value: 64 }, { name: 'fsize', value: 1000 }, { name: 'core', value: 1024 }] };
    assert.equal(shellScript(s), 'set -e; ulimit -n 64; ulimit -c 2; exec "$0" "$@"');
    assert.deepEqual(prlimitOptions(s), ['--as=100000000:100000000', '--fsize=1000:1000']);
    assert.deepEqual(argvOf(throughTrampolines(T, req(NOBODY), s, NOBODY, SELF, false)), ['/usr/bin/dash', 'dash', '-c', 'set -e; ulimit -n 64; ulimit -c 2; exec "$0" "$@"',
      '/usr/bin/prlimit', '--as=100000000:100000000', '--fsize=1000:1000', '--',
      '/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--', '/usr/sbin/in.x', '-a', '$(reboot)', "it's"]);
    assert.deepEqual(argvOf(throughTrampolines(T, req(), { ...none, rlimits: [{ name: 'data', value: 1 }] }, null, SELF, false)),
      ['/usr/bin/prlimit', 'prlimit', '--data=1:1', '--', '/usr/sbin/in.x', '-a', '$(reboot)', "it's"]);
    assert.match(String(throughTrampolines({ ...T, prlimit: null }, req(), s, null, SELF, false)), /no trusted prlimit/);
  });
  test('only umask and limits, superd\'s own user: one exec of dash, the arguments as arguments', () => {
    const s = { ...none, umask: 0o27, rlimits: [{ name: 'nofile' as const, value: 64 }] };
    assert.deepEqual(argvOf(throughTrampolines(T, req(), s, null, SELF, false)),
      ['/usr/bin/dash', 'dash', '-c', 'set -e; umask 027; ulimit -n 64; exec "$0" "$@"', '/usr/sbin/in.x', '-a', '$(reboot)', "it's"]);
  });
  test('everything, as another user: nice, then dash, then setpriv switching last', () => {
    const s: ProcessSettings = { nice: -5, umask: 0o22, rlimits: [{ name: 'cpu', value: 1 }], groups: true, noNewPrivileges: true };
    const r = throughTrampolines(T, req(NOBODY), s, NOBODY, SELF, false);
    assert.deepEqual(argvOf(r), ['/usr/bin/nice', 'nice', '-n', '-7', '--', '/usr/bin/dash', '-c', 'set -e; umask 022; ulimit -t 1; exec "$0" "$@"',
      '/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--init-groups', '--nnp', '--inh-caps=-all', '--', '/usr/sbin/in.x', '-a', '$(reboot)', "it's"]);
    assert.equal(typeof r !== 'string' && r.credentials, null, 'setpriv switches: whatever starts the chain must not');
  });
  test('groups for superd\'s own user (root) names root\'s ids; no_new_privileges alone is setpriv alone', () => {
    assert.deepEqual(argvOf(throughTrampolines(T, req(), { ...none, groups: true }, null, SELF, false)).slice(0, 6),
      ['/usr/bin/setpriv', 'setpriv', '--reuid=0', '--regid=0', '--init-groups', '--inh-caps=-all']);
    assert.deepEqual(argvOf(throughTrampolines(T, req(), { ...none, noNewPrivileges: true }, null, SELF, false)),
      ['/usr/bin/setpriv', 'setpriv', '--nnp', '--inh-caps=-all', '--', '/usr/sbin/in.x', '-a', '$(reboot)', "it's"]);
    assert.deepEqual(argvOf(throughTrampolines(T, req(NOBODY), { ...none, umask: 0o77 }, NOBODY, SELF, false)).slice(4, 9),
      ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all']);
  });
  test('a missing trampoline is a reason, not a handler started without the setting', () => {
    assert.match(String(throughTrampolines({ ...T, nice: null }, req(), { ...none, nice: 1 }, null, SELF, false)), /no trusted nice/);
    assert.match(String(throughTrampolines({ ...T, setpriv: null }, req(NOBODY), { ...none, umask: 0 }, NOBODY, SELF, false)), /no trusted setpriv/);
  });
});
