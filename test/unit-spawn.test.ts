// The pure pieces of how a handler is started, tested without sockets: who may
// execute a program, the setpriv trampoline's argv, which setpriv is trusted,
// how a handler's stderr is cut into lines, its open-files limit, whether it
// needs a session of its own, and which of superd's threads run SCHED_BATCH.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { Credentials } from '../src/config/types.js';
import { ExecutableCheck, executableBy, searchableBy } from '../src/spawn/executable.js';
import { loadSys, type Sys } from '../src/sys/load.js';
import type { NofileLimits } from '../src/sys/process.js';
import { CLEAR_CAPABILITIES, findSetpriv, probeSetpriv, switchesUser, throughSetpriv, type Setpriv } from '../src/spawn/setpriv.js';
import { HandlerLimits } from '../src/spawn/limits.js';
import { batchHelperThreads } from '../src/spawn/sched.js';
import { SCHED_BATCH, SCHED_OTHER } from '../src/sys/constants.js';
import { controllingTerminal } from '../src/spawn/session.js';
import type { SpawnRequest } from '../src/spawn/types.js';
import { ROOT } from './helpers/daemon.js';
import { runProgram } from './helpers/proc.js';

const isRoot = process.getuid?.() === 0;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

/** The real bindings with some calls replaced: a libc whose answers a test decides. */
function sysWith(overrides: Partial<Sys>): Sys {
  const real = loadSys();
  if (real instanceof Error) throw real;
  return { ...real, ...overrides };
}

/** What executableBy reads of a Stats: a regular file (or not) with these bits and owner. */
function file(perm: number, uid: number, gid: number, regular = true): { mode: number; uid: number; gid: number; isFile(): boolean } {
  return { mode: (regular ? S_IFREG : S_IFDIR) | perm, uid, gid, isFile: () => regular };
}

describe('searchableBy: may uid/gid pass through a directory (setpriv would not ask the kernel)', () => {
  test('owner, group and other search bits, each for whom it applies', () => {
    assert.equal(searchableBy('/d', file(0o700, 1000, 1000, false), 1000, 1000), null);
    assert.equal(searchableBy('/d', file(0o710, 1000, 1000, false), 2000, 1000), null);
    assert.equal(searchableBy('/d', file(0o701, 1000, 1000, false), 2000, 2000), null);
    assert.match(searchableBy('/d', file(0o760, 1000, 1000, false), 2000, 1000) ?? 'allowed', /EACCES.*cannot search \/d/);
    assert.match(searchableBy('/srv/x', file(0o700, 0, 0, false), 65534, 65534) ?? 'allowed', /cannot search \/srv\/x/);
  });
  test('root passes every directory', () => {
    assert.equal(searchableBy('/d', file(0o000, 1000, 1000, false), 0, 0), null);
  });
});

describe('executableBy: exec permission for uid/gid, no supplementary groups', () => {
  const OWNER = 1000;
  const GROUP = 1000;
  const OTHER_UID = 2000;
  const OTHER_GID = 2000;

  test('the owner needs the owner bit, whatever group and others may do', () => {
    assert.equal(executableBy(file(0o700, OWNER, GROUP), OWNER, GROUP), null);
    assert.equal(executableBy(file(0o100, OWNER, GROUP), OWNER, OTHER_GID), null);
    const denied = executableBy(file(0o611, OWNER, GROUP), OWNER, GROUP);
    assert.equal(denied, `permission denied (EACCES) for uid ${OWNER} gid ${GROUP}`);
  });

  test("the file's group (not the owner) needs the group bit, whatever others may do", () => {
    assert.equal(executableBy(file(0o010, OWNER, GROUP), OTHER_UID, GROUP), null);
    assert.equal(executableBy(file(0o750, OWNER, GROUP), OTHER_UID, GROUP), null);
    assert.match(executableBy(file(0o745, OWNER, GROUP), OTHER_UID, GROUP) ?? 'allowed', /EACCES/);
    // Owner bits do not help a member of the group.
    assert.match(executableBy(file(0o701, OWNER, GROUP), OTHER_UID, GROUP) ?? 'allowed', /EACCES/);
  });

  test('anyone else needs the other bit', () => {
    assert.equal(executableBy(file(0o001, OWNER, GROUP), OTHER_UID, OTHER_GID), null);
    assert.equal(executableBy(file(0o755, OWNER, GROUP), OTHER_UID, OTHER_GID), null);
    assert.equal(
      executableBy(file(0o770, OWNER, GROUP), OTHER_UID, OTHER_GID),
      `permission denied (EACCES) for uid ${OTHER_UID} gid ${OTHER_GID}`,
    );
    assert.match(executableBy(file(0o666, OWNER, GROUP), OTHER_UID, OTHER_GID) ?? 'allowed', /EACCES/);
  });

  test('root may execute a file with any execute bit, and none without one', () => {
    assert.equal(executableBy(file(0o100, OWNER, GROUP), 0, 0), null);
    assert.equal(executableBy(file(0o010, OWNER, GROUP), 0, 0), null);
    assert.equal(executableBy(file(0o001, OWNER, GROUP), 0, 0), null);
    assert.equal(executableBy(file(0o644, 0, 0), 0, 0), 'permission denied (EACCES) for uid 0 gid 0');
  });

  test('something that is not a regular file is refused, execute bits or not', () => {
    assert.equal(executableBy(file(0o755, 0, 0, false), 0, 0), 'not a regular file');
    assert.equal(executableBy(file(0o755, OWNER, GROUP, false), OTHER_UID, OTHER_GID), 'not a regular file');
  });

  test('real Stats: a directory, and a root-only (0700) script as root and as another user', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'superd-unit-exec-'));
    try {
      assert.equal(executableBy(await stat(dir), 0, 0), 'not a regular file');
      const script = join(dir, 'secret.sh');
      await writeFile(script, '#!/bin/sh\nexit 0\n');
      await chmod(script, 0o700);
      const st = await stat(script);
      const me = { uid: process.getuid?.() ?? st.uid, gid: process.getgid?.() ?? st.gid };
      assert.equal(executableBy(st, me.uid, me.gid), null, 'its owner may run it');
      const stranger = me.uid === 65534 ? 65533 : 65534;
      assert.equal(executableBy(st, stranger, stranger), `permission denied (EACCES) for uid ${stranger} gid ${stranger}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ExecutableCheck: looked up once, then answered from the last look', () => {
  test('a missing program: ENOENT, by its errno name; a program that exists: allowed', async () => {
    const check = new ExecutableCheck();
    const missing = `/nonexistent/superd-unit-${process.pid}`;
    assert.equal(await check.check(missing, 65534, 65534), 'no such file or directory (ENOENT)');
    assert.equal(await check.check('/bin/sh', 65534, 65534), null);
  });

  test('the first look is asynchronous; while it is fresh the answer is synchronous, for any user', async () => {
    const check = new ExecutableCheck();
    const first = check.check('/bin/sh', 65534, 65534);
    assert.ok(first instanceof Promise, 'the first look stats the file');
    assert.equal(await first, null);
    const again = check.check('/bin/sh', 0, 0);
    assert.ok(!(again instanceof Promise), 'a fresh look is answered without I/O');
    assert.equal(again, null);
  });
});

describe('the setpriv trampoline', () => {
  const nobody: Credentials = { uid: 65534, gid: 65534, label: 'nobody(65534)' };
  const req: SpawnRequest = {
    program: '/usr/bin/git',
    argv: ['git', 'daemon', '--inetd', '--', 'two words'],
    env: ['PATH=/usr/bin:/bin', 'SUPERD_SERVICE=git'],
    fd: 17,
    stderr: 'log',
    credentials: nobody,
  };

  test('switchesUser: only when uid or gid differ from superd\'s own', () => {
    assert.equal(switchesUser(null, { uid: 0, gid: 0 }), false, 'no user key: superd\'s own user');
    assert.equal(switchesUser({ uid: 0, gid: 0, label: 'root(0)' }, { uid: 0, gid: 0 }), false, 'the same ids');
    assert.equal(switchesUser(nobody, { uid: 0, gid: 0 }), true);
    assert.equal(switchesUser({ uid: 0, gid: 65534, label: 'root(0)' }, { uid: 0, gid: 0 }), true, 'another group alone');
    assert.equal(switchesUser({ uid: 1000, gid: 0, label: '1000' }, { uid: 0, gid: 0 }), true, 'another user alone');
    assert.equal(switchesUser({ uid: 1000, gid: 1000, label: '1000' }, { uid: 1000, gid: 1000 }), false, 'a non-root superd as itself');
  });

  const setpriv: Setpriv = { path: '/usr/bin/setpriv', clears: CLEAR_CAPABILITIES };

  test('throughSetpriv: setpriv is the program; it switches every id, clears groups and the inheritable and ambient capabilities, then execs the absolute path', () => {
    const before = structuredClone(req);
    const out = throughSetpriv(setpriv, req, nobody);
    assert.equal(out.program, '/usr/bin/setpriv');
    assert.deepEqual(out.argv, [
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      '--inh-caps=-all',
      '--ambient-caps=-all',
      '--',
      '/usr/bin/git',
      'daemon',
      '--inetd',
      '--',
      'two words',
    ]);
    // What setpriv execs: the handler's argv[0] is the program's absolute path, not its base name.
    const handlerArgv = out.argv.slice(out.argv.indexOf('--') + 1);
    assert.equal(handlerArgv[0], req.program);
    assert.deepEqual(handlerArgv.slice(1), req.argv.slice(1), 'the args are passed unchanged');
    // Everything else is the same request, but for the credentials: setpriv switches, what starts it must not.
    assert.deepEqual(out.env, req.env);
    assert.equal(out.fd, 17);
    assert.equal(out.stderr, 'log');
    assert.equal(out.credentials, null);
    assert.deepEqual(req, before, 'throughSetpriv must not modify its request');
  });

  test('throughSetpriv: uid and gid are taken from the credentials, not from a label', () => {
    const out = throughSetpriv({ path: '/bin/setpriv', clears: CLEAR_CAPABILITIES }, { ...req, argv: ['cat'], program: '/bin/cat' }, { uid: 1001, gid: 50, label: 'git(1001)' });
    assert.deepEqual(out.argv, ['setpriv', '--reuid=1001', '--regid=50', '--clear-groups', '--inh-caps=-all', '--ambient-caps=-all', '--', '/bin/cat']);
    assert.equal(out.program, '/bin/setpriv');
  });

  test('throughSetpriv without credentials: superd\'s own ids, only the capabilities cleared', () => {
    const out = throughSetpriv(setpriv, { ...req, credentials: null }, null);
    assert.deepEqual(out.argv, ['setpriv', '--inh-caps=-all', '--ambient-caps=-all', '--', '/usr/bin/git', 'daemon', '--inetd', '--', 'two words']);
  });

  test('throughSetpriv with a setpriv that refused to clear capabilities: the ids alone', () => {
    const out = throughSetpriv({ path: '/usr/bin/setpriv', clears: [] }, req, nobody);
    assert.deepEqual(out.argv.slice(0, 5), ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--']);
  });

  test("probeSetpriv: the host's setpriv accepts --inh-caps=-all --ambient-caps=-all; a program that refuses them is named by its own words", async (t) => {
    if (!existsSync('/usr/bin/setpriv')) return t.skip('no /usr/bin/setpriv');
    assert.equal(await probeSetpriv('/usr/bin/setpriv'), null);
    const refused = await probeSetpriv('/bin/false');
    assert.equal(typeof refused, 'string');
    assert.notEqual(refused, '');
  });
});

/** The first of dir and the directories above it that is not root's or is group/other-writable, or null. */
async function firstUntrusted(dir: string): Promise<string | null> {
  for (let d = dir; ; d = dirname(d)) {
    const st = await stat(d).catch(() => null);
    if (st === null || st.uid !== 0 || (st.mode & 0o022) !== 0) return d;
    if (d === '/') return null;
  }
}

describe('findSetpriv: only a setpriv that only root can replace', () => {
  /** A directory in a chain only root can write (as root), for the file's own checks. */
  let trusted: string | null = null;
  /** A directory under tmpdir (sticky, world-writable /tmp above it). */
  let open = '';

  before(async () => {
    open = await mkdtemp(join(tmpdir(), 'superd-unit-setpriv-'));
    if (!isRoot) return;
    for (const parent of ['/run', '/root', join(ROOT, 'dist')]) {
      if (!existsSync(parent) || (await firstUntrusted(parent)) !== null) continue;
      const dir = await mkdtemp(join(parent, 'superd-unit-setpriv-')).catch(() => null);
      if (dir === null) continue;
      await chmod(dir, 0o755);
      trusted = dir;
      break;
    }
  });
  after(async () => {
    if (open !== '') await rm(open, { recursive: true, force: true });
    if (trusted !== null) await rm(trusted, { recursive: true, force: true });
  });

  /** A copy-free stand-in for setpriv: an executable shell script. */
  async function fake(dir: string, name: string, mode: number): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, '#!/bin/sh\nexit 0\n');
    await chmod(path, mode);
    return path;
  }

  async function refused(candidates: string[]): Promise<Error> {
    const r = await findSetpriv(candidates);
    assert.ok(r instanceof Error, `expected an Error, got ${String(r)}`);
    return r;
  }

  test('a list of missing paths: an Error naming them', async () => {
    const missing = [join(open, 'nope', 'setpriv'), `/nonexistent/superd-${process.pid}/setpriv`];
    const err = await refused(missing);
    assert.equal(err.message, `no setpriv (util-linux) in ${missing.join(', ')}`);
    assert.match((await refused([])).message, /no setpriv/);
  });

  test("the host's /usr/bin/setpriv is trusted, also after missing and untrusted candidates", async (t) => {
    if (!existsSync('/usr/bin/setpriv')) return t.skip('no /usr/bin/setpriv on this host (util-linux)');
    assert.equal(await findSetpriv(['/usr/bin/setpriv']), '/usr/bin/setpriv');
    const untrusted = await fake(open, 'setpriv', 0o755);
    assert.equal(await findSetpriv([join(open, 'missing'), untrusted, '/usr/bin/setpriv']), '/usr/bin/setpriv');
    // With no argument it looks where distributions put it.
    assert.equal(typeof (await findSetpriv()), 'string');
  });

  test('a file under a world-writable directory (tmpdir): the Error says which directory, or (not root) whose file', async (t) => {
    const path = await fake(open, 'setpriv', 0o755);
    const err = await refused([path]);
    if (!isRoot) {
      // The file is ours, not root's: refused before its directories are looked at.
      assert.equal(err.message, `${path}: not owned by root or writable by group or others`);
      return;
    }
    const bad = await firstUntrusted(open);
    if (bad === null) return t.skip(`every directory above ${open} is root's and not group/other-writable (TMPDIR?)`);
    assert.equal(err.message, `${path}: ${bad} is not owned by root or is writable by group or others`);
  });

  test('a group- or other-writable directory in a trusted chain: the Error names it', async (t) => {
    if (trusted === null) return t.skip(isRoot ? 'no root-only directory chain found (/run, /root, the checkout)' : 'needs root: files must be root-owned to get past the ownership check');
    const sub = join(trusted, 'gw');
    await mkdir(sub);
    await chmod(sub, 0o775);
    const path = await fake(sub, 'setpriv', 0o755);
    assert.equal((await refused([path])).message, `${path}: ${sub} is not owned by root or is writable by group or others`);
    await chmod(sub, 0o757);
    assert.equal((await refused([path])).message, `${path}: ${sub} is not owned by root or is writable by group or others`);
    await chmod(sub, 0o755);
    assert.equal(await findSetpriv([path]), path, 'the same file once the directory is fixed');
  });

  test('a group- or other-writable file, or one not owned by root: the Error says why', async (t) => {
    if (trusted === null) return t.skip(isRoot ? 'no root-only directory chain found (/run, /root, the checkout)' : 'needs root: to own the file as root, and chown it');
    const dir = trusted;
    const why = 'not owned by root or writable by group or others';
    const groupWritable = await fake(dir, 'gw-setpriv', 0o775);
    assert.equal((await refused([groupWritable])).message, `${groupWritable}: ${why}`);
    const otherWritable = await fake(dir, 'ow-setpriv', 0o757);
    assert.equal((await refused([otherWritable])).message, `${otherWritable}: ${why}`);
    const notRoots = await fake(dir, 'nobody-setpriv', 0o755);
    await chown(notRoots, 65534, 0);
    assert.equal((await refused([notRoots])).message, `${notRoots}: ${why}`);
    // Every reason is in the one Error, in order; missing candidates are left out.
    const all = await refused([groupWritable, join(dir, 'missing'), notRoots]);
    assert.equal(all.message, `${groupWritable}: ${why}; ${notRoots}: ${why}`);
    // And the same kind of file, root's and 0755, is trusted.
    const good = await fake(dir, 'setpriv', 0o755);
    assert.equal((await lstat(good)).uid, 0);
    assert.equal(await findSetpriv([groupWritable, good]), good);
  });

  test('a file that is not executable, or not a regular file, is refused', async (t) => {
    if (trusted === null) return t.skip(isRoot ? 'no root-only directory chain found (/run, /root, the checkout)' : 'needs root: files must be root-owned to get past the ownership check');
    const plain = await fake(trusted, 'plain-setpriv', 0o644);
    assert.equal((await refused([plain])).message, `${plain}: not executable`);
    const dir = join(trusted, 'dir-setpriv');
    await mkdir(dir);
    await chmod(dir, 0o755);
    assert.equal((await refused([dir])).message, `${dir}: not a regular file`);
  });
});

describe('HandlerLimits: a soft open-files limit of min(1024, hard) for handlers', () => {
  /** A libc whose prlimit reads and writes this table (pid 0 is superd). */
  function fakeSys(table: Map<number, NofileLimits>): Sys {
    return sysWith({
      nofile: (pid, limits) => {
        const before = table.get(pid);
        if (before === undefined) return null; // ESRCH, EPERM
        if (limits !== undefined) table.set(pid, { ...limits });
        return { ...before };
      },
      prlimitNofile: (pid, limits, old) => {
        const before = table.get(pid);
        if (before === undefined) return -1;
        if (old !== null) {
          old.writeBigUInt64LE(BigInt(before.soft), 0);
          old.writeBigUInt64LE(BigInt(before.hard), 8);
        }
        if (limits !== null) table.set(pid, { soft: Number(limits.readBigUInt64LE(0)), hard: Number(limits.readBigUInt64LE(8)) });
        return 0;
      },
    });
  }

  test("superd keeps its own one below the hard limit; a handler still at superd's value is lowered, one that set its own keeps it", () => {
    const table = new Map<number, NofileLimits>([
      [0, { soft: 20000, hard: 20000 }],
      [101, { soft: 19999, hard: 20000 }], // as inherited
      [102, { soft: 20000, hard: 20000 }], // raised itself (Go, Node, the JVM)
      [103, { soft: 256, hard: 20000 }], // lowered itself (select())
    ]);
    const limits = HandlerLimits.create(fakeSys(table));
    assert.ok(limits !== null);
    assert.equal(limits.target, 1024);
    assert.deepEqual(table.get(0), { soft: 19999, hard: 20000 });
    for (const pid of [101, 102, 103, 104]) limits.apply(pid);
    assert.deepEqual(table.get(101), { soft: 1024, hard: 20000 });
    assert.deepEqual(table.get(102), { soft: 20000, hard: 20000 });
    assert.deepEqual(table.get(103), { soft: 256, hard: 20000 });
  });

  test('nothing to do where handlers inherit 1024 or less anyway', () => {
    assert.equal(HandlerLimits.create(fakeSys(new Map([[0, { soft: 1024, hard: 1024 }]]))), null);
    assert.equal(HandlerLimits.create(fakeSys(new Map([[0, { soft: 800, hard: 4096 }]]))), null);
    assert.equal(HandlerLimits.create(null), null);
    const table = new Map([[0, { soft: 1025, hard: 1025 }]]);
    const limits = HandlerLimits.create(fakeSys(table));
    assert.equal(limits?.target, 1024);
    assert.deepEqual(table.get(0), { soft: 1025, hard: 1025 }, 'one below the hard limit would be the target itself');
  });
});

describe('whether handlers need a session of their own', () => {
  test('tty_nr is read after the command name, whatever that name holds', () => {
    assert.equal(controllingTerminal('4242 (bash) S 4000 4242 4242 34816 4300 4194560 1 2'), 34816);
    assert.equal(controllingTerminal('77 (x) 1 2 (y) S 1 77 77 0 -1 4194560 0 0'), 0, "a ')' and spaces inside the name");
    assert.ok(Number.isNaN(controllingTerminal('garbage')));
  });

  /**
   * handlersNeedSession() as a node process started through `wrap` answers it,
   * and whether that process can open /dev/tty (which only a process with a
   * controlling terminal can): the setting itself, checked without /proc.
   */
  async function answerIn(wrap: (argv: string[]) => string[]): Promise<{ needs: boolean; tty: boolean }> {
    const dir = await mkdtemp(join(tmpdir(), 'superd-unit-session-'));
    try {
      const child = join(dir, 'child.mjs');
      await writeFile(
        child,
        [
          "import { closeSync, openSync } from 'node:fs';",
          'const { handlersNeedSession } = await import(process.argv[2]);',
          'let tty = false;',
          "try { closeSync(openSync('/dev/tty', 'r')); tty = true; } catch { /* no controlling terminal */ }",
          "process.stdout.write(JSON.stringify({ needs: handlersNeedSession(), tty }) + '\\n');",
        ].join('\n'),
      );
      const session = pathToFileURL(join(ROOT, 'dist', 'src', 'spawn', 'session.js')).href;
      const [cmd, ...args] = wrap([process.execPath, child, session]);
      const r = await runProgram(cmd ?? '', args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeoutMs: 20000 });
      const line = /\{.*\}/.exec(r.stdout)?.[0];
      assert.ok(line !== undefined, `no answer from ${cmd}: stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`);
      return JSON.parse(line) as { needs: boolean; tty: boolean };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

  test('a process in a session of its own without a terminal (setsid): no session needed', async (t) => {
    if (!existsSync('/usr/bin/setsid')) return t.skip('no /usr/bin/setsid (util-linux)');
    assert.deepEqual(await answerIn((argv) => ['/usr/bin/setsid', '--wait', ...argv]), { needs: false, tty: false });
  });

  test('a process whose controlling terminal is a pty (script): a session of their own', async (t) => {
    if (!existsSync('/usr/bin/script')) return t.skip('no /usr/bin/script (util-linux) to give a process a terminal');
    const answer = await answerIn((argv) => ['/usr/bin/script', '--quiet', '--return', '--command', argv.map(shellQuote).join(' '), '/dev/null']);
    assert.deepEqual(answer, { needs: true, tty: true });
  });
});

describe('every thread but the event loop runs SCHED_BATCH, only when superd runs SCHED_OTHER', () => {
  /** A libc whose sched_* calls read and write this table of tid -> policy (tid 0: the calling thread, the event loop). */
  function fakeSys(table: Map<number, number>, refuse = false): Sys {
    return sysWith({
      schedGetScheduler: (tid) => table.get(tid === 0 ? process.pid : tid) ?? -1,
      schedSetScheduler: (tid, policy) => {
        if (!table.has(tid) || refuse) return -1; // ESRCH: the thread ended; EPERM: a seccomp profile refuses
        table.set(tid, policy);
        return 0;
      },
    });
  }
  const loop = process.pid;
  const SCHED_IDLE = 5;

  test('every SCHED_OTHER thread listed but the event loop becomes SCHED_BATCH; handlers are then to be put back', async () => {
    const table = new Map([[loop, SCHED_OTHER], [loop + 1, SCHED_OTHER], [loop + 2, SCHED_OTHER], [loop + 3, SCHED_IDLE]]);
    // loop + 4 ended meanwhile; loop + 3 runs a policy someone gave it, kept.
    assert.equal(await batchHelperThreads(fakeSys(table), async () => [loop, loop + 1, loop + 2, loop + 3, loop + 4]), true);
    assert.deepEqual([...table], [[loop, SCHED_OTHER], [loop + 1, SCHED_BATCH], [loop + 2, SCHED_BATCH], [loop + 3, SCHED_IDLE]]);
  });

  test("an operator's policy (SCHED_BATCH or SCHED_IDLE for the whole daemon) is left alone, and reaches handlers as it is", async () => {
    for (const policy of [SCHED_BATCH, SCHED_IDLE]) {
      const table = new Map([[loop, policy], [loop + 1, SCHED_OTHER]]);
      let listed = false;
      const threads = async (): Promise<number[]> => {
        listed = true;
        return [loop, loop + 1];
      };
      assert.equal(await batchHelperThreads(fakeSys(table), threads), false);
      assert.equal(listed, false, 'the threads are not even listed');
      assert.deepEqual([...table], [[loop, policy], [loop + 1, SCHED_OTHER]]);
    }
  });

  test('no thread listed (no /proc), ended, or changed (SCHED_BATCH refused): handlers need no reset', async () => {
    assert.equal(await batchHelperThreads(fakeSys(new Map([[loop, SCHED_OTHER]])), async () => []), false);
    assert.equal(await batchHelperThreads(fakeSys(new Map([[loop, SCHED_OTHER]])), async () => [loop, loop + 9]), false);
    const refused = new Map([[loop, SCHED_OTHER], [loop + 1, SCHED_OTHER]]);
    assert.equal(await batchHelperThreads(fakeSys(refused, true), async () => [loop, loop + 1]), false);
    assert.deepEqual([...refused], [[loop, SCHED_OTHER], [loop + 1, SCHED_OTHER]]);
  });

  test("threadsOfSelf, as a process's first use of libuv's pool, lists the pool's threads, which that use makes", async () => {
    // A fresh process, whose pool is not made before the call: CommonJS, so
    // that loading sched.js reads it synchronously, not on the pool.
    const pool = 3;
    const sched = join(ROOT, 'dist', 'src', 'spawn', 'sched.js');
    const script = [
      "const { readdirSync } = require('node:fs');",
      "const tasks = () => readdirSync('/proc/self/task').map(Number);",
      'const before = tasks();',
      `const { threadsOfSelf } = require(${JSON.stringify(sched)});`,
      "threadsOfSelf().then(async (listed) => { await require('node:fs/promises').stat('/'); process.stdout.write(JSON.stringify({ before, listed, after: tasks() }) + '\\n'); });",
    ].join('\n');
    const r = await runProgram(process.execPath, ['-e', script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', UV_THREADPOOL_SIZE: String(pool) }, timeoutMs: 20000 });
    const line = /\{.*\}/.exec(r.stdout)?.[0];
    assert.ok(line !== undefined, `no answer: stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`);
    const { before, listed, after } = JSON.parse(line) as { before: number[]; listed: number[]; after: number[] };
    assert.ok(before.every((tid) => listed.includes(tid)), 'the threads there before');
    assert.ok(listed.filter((tid) => !before.includes(tid)).length >= pool, `the ${pool} pool threads made for the listing: ${before.length} before, ${listed.length} listed`);
    assert.deepEqual(after.filter((tid) => !listed.includes(tid)), [], 'no thread the pool made after the listing');
  });
});
