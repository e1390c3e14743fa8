// Issue 23, SPEC §5 "Signals and lifetime": nobody can make superd act on a
// signal it does not use, nor make the kernel signal it.
//
// 1. The signals superd does not use (SIGUSR1, which would open Node's
//    inspector, SIGTSTP, which would stop it, and the rest whose default
//    would end it) are caught: each is logged once (`signal_ignored`), superd
//    stays up, unstopped, with no inspector on 127.0.0.1:9229, serves, and
//    still reloads on SIGHUP. The same while it is still loading, from the
//    moment bin/superd's first lines have run (before them, Node's own
//    defaults apply: no program can catch a signal before it runs).
// 2. A hostile handler of a wait service (udp, tcp, unix), running as nobody,
//    shares superd's open file: it and a grandchild it leaves behind F_SETSIG
//    SIGUSR1 / SIGSTOP / SIGTERM and set O_ASYNC on it again and again while
//    traffic arrives. Were superd the file's owner (F_SETOWN, as when it
//    watched wait sockets with signal-driven I/O) the kernel would send it
//    that signal on every arrival, with root's credentials; it is not (the
//    handler reads F_GETOWN and reports 0), so nothing arrives: no
//    `signal_ignored`, no stop, no inspector, every request answered.
//    The handler does not F_SETOWN superd itself: an owner nobody sets
//    carries nobody's credentials, which the kernel never lets signal a root
//    process, and it would replace (so hide) an owner superd had set.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { exchange, freePorts, tryConnect } from './helpers/clients.js';
import { assertStillServes, serviceFile, startDaemon, startServices, tempDir, unreachableByOthers, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { procStat, statusField, statusMask } from './helpers/proc.js';
import { udpExchange } from './helpers/udp.js';
import { unixExchange } from './helpers/unix.js';
import { eventually } from './helpers/wait.js';

const isRoot = process.getuid?.() === 0;
const SETPRIV = '/usr/bin/setpriv';
const PYTHON = '/usr/bin/python3';
const NOBODY = 65534;
/** Where Node's inspector listens once SIGUSR1 opens it. */
const INSPECTOR_PORT = 9229;
const CAT = { protocol: 'tcp', bind: '127.0.0.1', server: '/bin/cat' };

/** SPEC §5 and src/signals.ts: caught, ignored, logged once each. */
const IGNORED: NodeJS.Signals[] = [
  'SIGUSR1',
  'SIGPIPE',
  'SIGALRM',
  'SIGVTALRM',
  'SIGURG',
  'SIGWINCH',
  'SIGIO',
  'SIGPWR',
  'SIGSTKFLT',
  'SIGXCPU',
  'SIGXFSZ',
  'SIGTSTP',
  'SIGTTIN',
  'SIGTTOU',
];

const daemons: DaemonHandle[] = [];
const dirs: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of daemons) {
    // A stopped superd (the bug) would never act on SIGTERM.
    if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGCONT');
  }
  await Promise.all(daemons.splice(0).map((d) => d.stop('SIGTERM', 10000)));
});
after(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const ignoredLines = (d: DaemonHandle): LogRecord[] => d.logs.filter((r) => r.event === 'signal_ignored');
const countOf = (d: DaemonHandle, signal: string): number => ignoredLines(d).filter((r) => r.signal === signal).length;

/** superd's run state from /proc: 'T' (stopped) or 't' (traced) must never be seen. */
async function state(pid: number): Promise<string> {
  return (await procStat(pid)).state;
}

/** Node's inspector is not listening: a connect to 127.0.0.1:9229 is refused. */
async function assertNoInspector(d: DaemonHandle, when: string): Promise<void> {
  const how = await tryConnect(INSPECTOR_PORT, '127.0.0.1', 2000);
  assert.equal(how, 'ECONNREFUSED', `${when}: nothing listens on 127.0.0.1:${INSPECTOR_PORT} (Node's inspector)`);
  const said = [...d.otherStderr, ...d.logs.map((r) => JSON.stringify(r))].filter((l) => /Debugger listening|nodejs\.org\/en\/docs\/inspector/.test(l));
  assert.deepEqual(said, [], `${when}: superd never said it opened the inspector`);
}

async function assertRunning(d: DaemonHandle, when: string): Promise<void> {
  assert.equal(d.proc.exitCode, null, `${when}: superd is running`);
  assert.equal(d.proc.signalCode, null, `${when}: superd was not killed by a signal`);
  const s = await state(d.pid);
  assert.ok(s !== 'T' && s !== 't', `${when}: superd is not stopped (state ${s})`);
}

/** A signal's bit in the masks of /proc/PID/status. */
function bitOf(signal: NodeJS.Signals): bigint {
  return 1n << BigInt(osConstants.signals[signal] - 1);
}
const IGNORED_BITS = IGNORED.reduce((m, s) => m | bitOf(s), 0n);

/** The signals the process has a handler for (SigCgt). */
const caughtMask = (pid: number): Promise<bigint> => statusMask(pid, 'SigCgt');

/** Bits of the signals pending for the whole process (ShdPnd) or its main thread (SigPnd). */
const pendingMask = (pid: number): Promise<bigint> => statusMask(pid, 'SigPnd', 'ShdPnd');

describe('signals superd does not use', { timeout: 60000 }, () => {
  test('each is caught and logged once: superd stays up, unstopped, without inspector, serving and reloading', async () => {
    const { d, port } = await startServices({ cat: CAT });
    daemons.push(d);
    const cat = port.cat ?? 0;
    for (const signal of IGNORED) process.kill(d.pid, signal);
    // One line each, in whatever order the kernel delivered them.
    await d.waitForCount((r) => r.event === 'signal_ignored', IGNORED.length, 'a signal_ignored line for each signal', 10000);
    // Again: a second SIGUSR1 and SIGTSTP, after the first were acted on, log nothing more.
    process.kill(d.pid, 'SIGUSR1');
    process.kill(d.pid, 'SIGTSTP');
    const bits = bitOf('SIGUSR1') | bitOf('SIGTSTP');
    assert.ok(await eventually(async () => ((await pendingMask(d.pid)) & bits) === 0n, 15000), 'the kernel delivered the second SIGUSR1 and SIGTSTP');
    // SIGHUP after them: its reload summary comes after they were handled.
    const summary = await d.reload();
    assert.equal(summary.errors, 0);

    await assertRunning(d, 'after the signals');
    await assertStillServes(d, cat);
    await assertNoInspector(d, 'after the signals');
    const lines = ignoredLines(d);
    for (const signal of IGNORED) assert.equal(countOf(d, signal), 1, `one signal_ignored line for ${signal}: ${JSON.stringify(lines)}`);
    assert.equal(lines.length, IGNORED.length, `no other signal_ignored line: ${JSON.stringify(lines)}`);
    for (const r of lines) assert.equal(r.level, 'warn', JSON.stringify(r));
    assert.equal(d.logs.filter((r) => r.event === 'shutdown').length, 0, 'no shutdown began');

    // SIGHUP still reloads: a new service comes up.
    const [added = 0] = await freePorts(1);
    await d.writeService('added.conf', serviceFile('added', { ...CAT, port: added }));
    const again = await d.reload();
    assert.equal(again.added, 1, JSON.stringify(again));
    await d.waitFor((r) => r.event === 'listening' && r.service === 'added', 'the added service listening');
    await assertStillServes(d, added);
    await assertRunning(d, 'at the end');
  });

  test('sent while superd is still loading, SIGUSR1 and SIGTSTP change nothing either', async () => {
    // From the moment bin/superd has its listeners (before it loads the CLI)
    // to well after `started`. Not from the very spawn: until Node has run
    // the script's first line (about 100 ms here) no program of it can catch
    // anything, and Node 20 itself opens the inspector on a SIGUSR1 then.
    let d: DaemonHandle | null = null;
    let cat = 0;
    let rounds = 0;
    let beforeStarted = 0;
    const states = new Set<string>();
    for (let attempt = 1; attempt <= 3 && d === null; attempt++) {
      const [p = 0] = await freePorts(1);
      const started = await startDaemon({ waitStarted: false, services: { 'cat.conf': serviceFile('cat', { ...CAT, port: p }) } });
      daemons.push(started);
      const spawnedAt = Date.now();
      const held = await eventually(async () => ((await caughtMask(started.pid)) & IGNORED_BITS) === IGNORED_BITS || started.proc.exitCode !== null, 15000, 1);
      assert.ok(held && started.proc.exitCode === null, `superd caught every ignored signal ${Date.now() - spawnedAt} ms after the spawn`);
      const until = Date.now() + 300;
      const isStarted = (): boolean => started.logs.some((r) => r.event === 'started');
      while ((Date.now() < until || !isStarted()) && Date.now() < until + 15000 && started.proc.exitCode === null && started.proc.signalCode === null) {
        if (!isStarted()) beforeStarted++;
        try {
          process.kill(started.pid, 'SIGUSR1');
          process.kill(started.pid, 'SIGTSTP');
        } catch {
          break; // Gone: the assertions below say how.
        }
        rounds++;
        try {
          states.add(await state(started.pid));
        } catch {
          states.add('gone');
        }
        await new Promise((r) => setTimeout(r, 1));
      }
      assert.ok(beforeStarted > 0, `signals were sent before \`started\` (${beforeStarted} of ${rounds} rounds)`);
      assert.ok(!states.has('T') && !states.has('t') && !states.has('gone'), `superd was never stopped while it loaded (states seen: ${[...states].join(' ')}; ${rounds} rounds)`);
      const settled = await started.waitFor((r) => (r.event === 'listening' || r.event === 'bind_failed') && r.service === 'cat', 'the cat service settled', 15000);
      await started.waitFor((r) => r.event === 'started', 'started', 15000);
      if (settled.event === 'listening') {
        d = started;
        cat = p;
      }
    }
    assert.ok(d !== null, 'superd bound its service in three attempts');
    const pid = d.pid;
    const bits = bitOf('SIGUSR1') | bitOf('SIGTSTP');
    assert.ok(await eventually(async () => ((await pendingMask(pid)) & bits) === 0n, 15000), 'nothing left pending');
    await d.reload();
    await assertRunning(d, 'after signals during loading');
    await assertNoInspector(d, 'after signals during loading');
    await assertStillServes(d, cat);
    assert.equal(countOf(d, 'SIGUSR1'), 1, JSON.stringify(ignoredLines(d)));
    assert.equal(countOf(d, 'SIGTSTP'), 1, JSON.stringify(ignoredLines(d)));
    assert.equal(ignoredLines(d).length, 2, JSON.stringify(ignoredLines(d)));
  });
});

// The hostile handler, run by superd as nobody with the wait socket on fd 0:
// python3 HOSTILE KIND SIGNO STATEDIR. It reads who owns the open file
// (F_GETOWN), arms it (F_SETSIG SIGNO, O_ASYNC), and, the first time for
// KIND, forks a grandchild that holds the socket and re-arms it
// every 50 ms for 3.5 s (its pid in STATEDIR for the cleanup, a summary at
// the end). Then it serves one request with what it saw: `armed owner=N
// sig=S uid=U` and the request. udp: one datagram, answered with sendto; tcp
// and unix: one connection, a line read, answered, closed.
const HOSTILE = String.raw`
import fcntl, os, select, socket, sys, time
F_SETOWN, F_GETOWN, F_SETSIG, F_GETSIG = 8, 9, 10, 11
O_ASYNC = 0o20000
kind, signo, state = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def arm():
    fcntl.fcntl(0, F_SETSIG, signo)
    fl = fcntl.fcntl(0, fcntl.F_GETFL)
    fcntl.fcntl(0, fcntl.F_SETFL, fl | O_ASYNC)
    return fcntl.fcntl(0, F_GETOWN)

owner = fcntl.fcntl(0, F_GETOWN)
arm()
marker = 'armed owner=%d sig=%d uid=%d' % (owner, fcntl.fcntl(0, F_GETSIG), os.getuid())

try:
    os.close(os.open(os.path.join(state, kind + '.forked'), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    mine = True
except FileExistsError:
    mine = False
if mine and os.fork() == 0:
    # The grandchild: fd 0 (the socket) stays; superd's stderr pipe goes.
    null = os.open('/dev/null', os.O_RDWR)
    os.dup2(null, 1)
    os.dup2(null, 2)
    pid = os.getpid()
    with open(os.path.join(state, '%s-gc-%d.pid' % (kind, pid)), 'w') as f:
        f.write('%d\n' % pid)
    rearms, owners = 0, set()
    end = time.monotonic() + 3.5
    while time.monotonic() < end:
        owners.add(arm())
        rearms += 1
        time.sleep(0.05)
    with open(os.path.join(state, '%s-gc-%d.done' % (kind, pid)), 'w') as f:
        f.write('rearms=%d owners=%s\n' % (rearms, ','.join(str(o) for o in sorted(owners))))
    os._exit(0)
s = socket.socket(fileno=0)
if not select.select([s], [], [], 5)[0]:
    sys.exit(3)
if kind == 'udp':
    data, addr = s.recvfrom(65536)
    s.sendto(marker.encode() + b' ' + data, addr)
else:
    c, _ = s.accept()
    c.settimeout(5)
    line = b''
    while not line.endswith(b'\n'):
        chunk = c.recv(4096)
        if not chunk:
            break
        line += chunk
    c.sendall(marker.encode() + b' ' + line)
    c.close()
`;

const needsRoot = !isRoot
  ? 'needs root: superd must run as root and the hostile handler as another user (nobody)'
  : !existsSync(SETPRIV)
    ? `needs ${SETPRIV} to run handlers as nobody`
    : !existsSync(PYTHON)
      ? `needs ${PYTHON} for the hostile handler`
      : unreachableByOthers() ?? false;

/** Kills the grandchildren whose pid files are in `dir`, if still nobody's. */
async function killGrandchildren(dir: string): Promise<void> {
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names.filter((n) => n.endsWith('.pid'))) {
    const pid = Number((await readFile(join(dir, name), 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(pid) || pid <= 1) continue;
    // Only a process that still runs as nobody: the pid may have been reused.
    if ((await statusField(pid, 'Uid'))?.split(/\s+/)[0] !== String(NOBODY)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
}

describe('a hostile handler on a wait socket', { timeout: 60000 }, () => {
  test('udp, tcp and unix wait handlers F_SETSIG SIGUSR1, SIGSTOP, SIGTERM with O_ASYNC: the kernel signals superd nothing', { skip: needsRoot }, async () => {
    const base = await tempDir('superd-trust-signals-');
    dirs.push(base);
    await chmod(base, 0o755);
    const script = join(base, 'hostile.py');
    await writeFile(script, HOSTILE, { mode: 0o644 });
    await chmod(script, 0o644);
    const stateDir = join(base, 'state');
    await mkdir(stateDir, { mode: 0o755 });
    await chown(stateDir, NOBODY, NOBODY);
    cleanups.push(() => killGrandchildren(stateDir));
    const sock = join(base, 'hostile.sock');

    const hostile = (kind: string, signo: number): Record<string, string> => ({
      wait: 'yes',
      user: 'nobody',
      server: PYTHON,
      args: `${script} ${kind} ${signo} ${stateDir}`,
    });
    const { d, port } = await startServices({
      cat: CAT,
      hudp: { protocol: 'udp', bind: '127.0.0.1', ...hostile('udp', 10) }, // SIGUSR1
      htcp: { protocol: 'tcp', bind: '127.0.0.1', ...hostile('tcp', 19) }, // SIGSTOP
      hunix: { protocol: 'unix', path: sock, ...hostile('unix', 15) }, // SIGTERM
    });
    daemons.push(d);
    const handlerErrors = (): string =>
      d.logs
        .filter((r) => r.event === 'stderr' || r.event === 'spawn_failed')
        .map((r) => JSON.stringify(r))
        .join('\n');

    const ask: Record<string, (payload: string) => Promise<string | null>> = {
      udp: async (payload) => (await udpExchange(port.hudp ?? 0, payload, { timeoutMs: 5000 }))?.toString() ?? null,
      tcp: async (payload) => {
        const r = await exchange(port.htcp ?? 0, payload, { timeoutMs: 5000 });
        return r.how === 'end' ? r.data.toString() : `(${r.how}) ${r.data.toString()}`;
      },
      unix: async (payload) => {
        const r = await unixExchange(sock, payload, { timeoutMs: 5000 });
        return r.how === 'end' ? r.data.toString() : `(${r.how}) ${r.data.toString()}`;
      },
    };
    const expected: Record<string, number> = { udp: 10, tcp: 19, unix: 15 };

    // Sample superd's run state throughout.
    const seen = new Set<string>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          seen.add(await state(d.pid));
        } catch {
          seen.add('gone');
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    // Each kind's requests one after the other for 3 s, the three kinds at once:
    // every one starts a handler that arms the socket again, and each arrival
    // is what would make the kernel raise the signal at an owner.
    const answered: Record<string, number> = { udp: 0, tcp: 0, unix: 0 };
    const owners = new Set<string>();
    const wrong: string[] = [];
    const until = Date.now() + 3000;
    try {
      await Promise.all(
        Object.keys(ask).map(async (kind) => {
          for (let i = 0; Date.now() < until || i === 0; i++) {
            const payload = `${kind} ${i}\n`;
            let reply: string;
            try {
              reply = (await (ask[kind] ?? assert.fail(kind))(payload)) ?? '(no reply)';
            } catch (err) {
              reply = `(${String(err)})`;
            }
            // What the handler saw: the file's owner, the signal it armed (F_GETSIG after F_SETSIG), its uid.
            const m = /^armed owner=(\d+) sig=(\d+) uid=(\d+) ([^]*)$/.exec(reply);
            if (m !== null && m[2] === String(expected[kind]) && m[3] === String(NOBODY) && m[4] === payload) {
              answered[kind] = (answered[kind] ?? 0) + 1;
              owners.add(`${kind}:${m[1]}`);
            } else {
              wrong.push(`${kind}: ${JSON.stringify(reply)} for ${JSON.stringify(payload)}`);
              break;
            }
            // The next request once this handler has exited: one sent while it
            // still runs would find the socket readable at its exit, which
            // superd takes for a handler that leaves its socket unread (wait_backoff).
            const service = `h${kind}`;
            const exited = await d.waitForCount((r) => r.event === 'exited' && r.service === service, i + 1, `${service} handler ${i + 1} exited`, 10000).catch(() => null);
            if (exited === null) {
              wrong.push(`${kind}: handler ${i + 1} did not exit within 10 s`);
              break;
            }
          }
        }),
      );
    } finally {
      sampling = false;
      await sampler;
    }

    // What a signal from the kernel would have done to superd: none of it.
    assert.ok(!seen.has('T') && !seen.has('t') && !seen.has('gone'), `superd ran throughout, never stopped (states seen: ${[...seen].join(' ')})`);
    await assertRunning(d, 'after the hostile handlers');
    assert.equal(d.logs.filter((r) => r.event === 'shutdown').length, 0, 'no shutdown began (SIGTERM)');
    assert.deepEqual(ignoredLines(d), [], 'the kernel sent superd no signal (SIGUSR1 would be logged as ignored)');
    const aboutSignals = d.logs.filter((r) => (r.level === 'warn' || r.level === 'error') && /SIG[A-Z]|signal/i.test(JSON.stringify(r)));
    assert.deepEqual(aboutSignals, [], 'no warning or error about a signal');
    await assertNoInspector(d, 'after the hostile handlers');
    assert.deepEqual(wrong, [], `every request answered by the hostile handler, as nobody, with its signal armed; handler stderr:\n${handlerErrors()}`);
    for (const kind of Object.keys(ask)) assert.ok((answered[kind] ?? 0) >= 3, `${kind}: ${answered[kind]} requests answered in 3 s`);
    // Why: superd is never the owner of the file it shares (the old
    // signal-driven watching left it the owner, with root's credentials).
    assert.deepEqual([...owners].sort(), ['tcp:0', 'udp:0', 'unix:0'], `the handlers saw no owner (F_GETOWN), superd's pid is ${d.pid}`);

    // Each kind had a grandchild re-arming the socket while the traffic came, and it never saw an owner.
    const done = async (): Promise<string[]> => (await readdir(stateDir)).filter((n) => n.endsWith('.done'));
    const allDone = async (): Promise<boolean> => {
      const names = await done();
      return ['udp', 'tcp', 'unix'].every((k) => names.some((n) => n.startsWith(`${k}-gc-`)));
    };
    assert.ok(await eventually(allDone, 30000), `the grandchildren finished: ${(await readdir(stateDir)).join(' ')}`);
    for (const kind of ['udp', 'tcp', 'unix']) {
      const files = (await done()).filter((n) => n.startsWith(`${kind}-gc-`));
      assert.ok(files.length >= 1, `${kind}: a grandchild ran: ${(await readdir(stateDir)).join(' ')}`);
      for (const f of files) {
        const text = (await readFile(join(stateDir, f), 'utf8')).trim();
        const m = /^rearms=(\d+) owners=(.*)$/.exec(text);
        assert.ok(m !== null, `${kind}: ${text}`);
        assert.ok(Number(m[1]) >= 10, `${kind}: the grandchild re-armed the socket throughout: ${text}`);
        assert.equal(m[2], '0', `${kind}: the socket never had an owner: ${text}`);
      }
    }

    await assertRunning(d, 'at the end');
    await assertStillServes(d, port.cat ?? 0);
    // The traffic started a handler at a time, each one exited by itself.
    const exits = d.logs.filter((r) => r.event === 'exited' && typeof r.service === 'string' && r.service.startsWith('h'));
    assert.ok(exits.length >= 9, `handlers ran and exited: ${exits.length}`);
    assert.deepEqual(
      exits.filter((r) => r.code !== 0).map((r) => JSON.stringify(r)),
      [],
      `every hostile handler exited 0; stderr:\n${handlerErrors()}`,
    );
  });
});
