// Real inetd programs from Debian, unchanged, as handlers: `git daemon --inetd`
// and `rsync --daemon` (which runs in inetd mode when its stdin is a socket).
// They talk real protocols over the socket superd hands them.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startServices, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { runProgram, type RunResult } from './helpers/proc.js';

const GIT = '/usr/bin/git';
const RSYNC = '/usr/bin/rsync';
const haveGit = existsSync(GIT) && existsSync('/usr/lib/git-core/git-daemon');
const haveRsync = existsSync(RSYNC);

/** An environment for client-side tools that ignores the user's and the system's configuration. */
function clientEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    LANG: 'C',
  };
}

function ok(r: RunResult, what: string): RunResult {
  assert.equal(r.code, 0, `${what} failed (code ${String(r.code)}, signal ${String(r.signal)}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

describe('inetd programs as handlers', () => {
  let d: DaemonHandle | undefined;
  let dir = '';
  let gitPort = 0;
  let rsyncPort = 0;
  let commit = '';
  const fileText = `hello through superd ${Date.now()}\n`;

  before(async () => {
    dir = await tempDir('superd-inetd-');
    const defs: Record<string, Record<string, string>> = {};
    const env = clientEnv(dir);

    if (haveGit) {
      const work = join(dir, 'work');
      const base = join(dir, 'srv');
      await mkdir(work);
      await mkdir(base);
      ok(await runProgram(GIT, ['init', '-q', '-b', 'main', work], { env }), 'git init');
      await writeFile(join(work, 'README'), fileText);
      ok(await runProgram(GIT, ['-C', work, 'add', 'README'], { env }), 'git add');
      ok(
        await runProgram(GIT, ['-C', work, '-c', 'user.name=superd test', '-c', 'user.email=test@example.invalid', 'commit', '-q', '-m', 'first'], { env }),
        'git commit',
      );
      commit = ok(await runProgram(GIT, ['-C', work, 'rev-parse', 'HEAD'], { env }), 'git rev-parse').stdout.trim();
      ok(await runProgram(GIT, ['clone', '-q', '--bare', work, join(base, 'repo.git')], { env }), 'git clone --bare');
      defs.git = {
        bind: '127.0.0.1',
        server: GIT,
        args: `daemon --inetd --export-all --base-path=${base} ${base}`,
      };
    }
    if (haveRsync) {
      const share = join(dir, 'share');
      await mkdir(share);
      await writeFile(join(share, 'data.txt'), fileText);
      const conf = join(dir, 'rsyncd.conf');
      await writeFile(
        conf,
        // As root rsync would switch to nobody, who cannot read this test's
        // directory: it stays root. Not root, it switches to nobody at all.
        ['use chroot = no', ...(process.getuid?.() === 0 ? ['uid = root', 'gid = root'] : []), `log file = ${join(dir, 'rsyncd.log')}`, '[share]', `path = ${share}`, 'read only = yes', 'comment = superd test share', ''].join('\n'),
      );
      defs.rsync = { bind: '127.0.0.1', server: RSYNC, args: `--daemon --config=${conf}` };
    }
    const served = await startServices(defs);
    d = served.d;
    gitPort = served.port.git ?? 0;
    rsyncPort = served.port.rsync ?? 0;
  });
  after(async () => {
    await d?.stop();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  test('git daemon --inetd: ls-remote and clone see the commit', { skip: !haveGit && `${GIT} (with git-daemon) is not installed`, timeout: 30000 }, async () => {
    const env = clientEnv(dir);
    const url = `git://127.0.0.1:${gitPort}/repo.git`;
    const ls = ok(await runProgram(GIT, ['ls-remote', url], { env, timeoutMs: 15000 }), 'git ls-remote');
    const refs = new Map(
      ls.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t'))
        .map(([hash, ref]) => [ref ?? '', hash ?? '']),
    );
    assert.equal(refs.get('HEAD'), commit, ls.stdout);
    assert.equal(refs.get('refs/heads/main'), commit, ls.stdout);

    const dest = join(dir, 'cloned');
    ok(await runProgram(GIT, ['clone', '-q', url, dest], { env, timeoutMs: 15000 }), 'git clone');
    const head = ok(await runProgram(GIT, ['-C', dest, 'rev-parse', 'HEAD'], { env }), 'rev-parse of the clone').stdout.trim();
    assert.equal(head, commit);
    assert.equal(await readFile(join(dest, 'README'), 'utf8'), fileText);

    // Both connections were handed to git and it exited cleanly each time.
    const accepted = await d!.waitForCount((r) => r.event === 'accepted' && r.service === 'git', 2, 'two git connections');
    assert.equal(accepted.length, 2);
    for (const a of accepted) {
      const e = await d!.waitFor((r) => r.event === 'exited' && r.pid === a.pid, `exited for git pid ${String(a.pid)}`);
      assert.equal(e.code, 0, JSON.stringify(e));
    }
    assert.equal(d!.logs.filter((r) => r.event === 'spawn_failed').length, 0);
  });

  test('rsync --daemon (inetd mode): module list and a file transfer', { skip: !haveRsync && `${RSYNC} is not installed`, timeout: 30000 }, async () => {
    const env = clientEnv(dir);
    const list = ok(await runProgram(RSYNC, [`rsync://127.0.0.1:${rsyncPort}/`], { env, timeoutMs: 15000 }), 'rsync module list');
    assert.match(list.stdout, /^share\s+superd test share$/m);
    const dest = join(dir, 'fetched.txt');
    ok(await runProgram(RSYNC, [`rsync://127.0.0.1:${rsyncPort}/share/data.txt`, dest], { env, timeoutMs: 15000 }), 'rsync fetch');
    assert.equal(await readFile(dest, 'utf8'), fileText);
    const accepted = await d!.waitForCount((r) => r.event === 'accepted' && r.service === 'rsync', 2, 'two rsync connections');
    assert.equal(accepted.length, 2);
    // rsync's daemon ends a module-list session with status 255 by design
    // (it does so under socat or xinetd too); the transfer must end with 0.
    for (const a of accepted) await d!.waitFor((r) => r.event === 'exited' && r.pid === a.pid, `exited for rsync pid ${String(a.pid)}`);
    const transfer = d!.logs.find((r) => r.event === 'exited' && r.pid === accepted[1]?.pid);
    assert.equal(transfer?.code, 0, JSON.stringify(transfer));
  });
});
