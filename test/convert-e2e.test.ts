// End to end: an xinetd service running a real program (`git daemon
// --inetd`) is converted with `superd convert`, superd serves the output (on
// a free port of its own: the port line is the one thing changed), and a
// real `git ls-remote` gets from it the refs the repository has, and the
// same answer xinetd gives on the original file when xinetd can run here.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './helpers/clients.js';
import { runSuperd, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { runProgram, type RunResult } from './helpers/proc.js';
import { eventually, once } from './helpers/wait.js';

const GIT = '/usr/bin/git';
const XINETD = '/usr/sbin/xinetd';
const haveGit = existsSync(GIT) && existsSync('/usr/lib/git-core/git-daemon');
const canRunXinetd = existsSync(XINETD) && process.getuid?.() === 0;

function ok(r: RunResult, what: string): RunResult {
  assert.equal(r.code, 0, `${what} failed (code ${String(r.code)}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** The refs of an ls-remote answer, sorted, as `SHA\tREF` lines. */
const refs = (out: string): string[] => out.split('\n').filter((l) => l.trim() !== '').sort();

describe('xinetd git daemon -> superd convert -> superd', { skip: !haveGit && `${GIT} (with git-daemon) is not installed`, timeout: 120000 }, () => {
  let dir = '';
  let base = '';
  let xinetdFile = '';
  let xinetdPort = 0;
  let converted = '';
  let d: DaemonHandle | undefined;
  let superdPort = 0;
  let xinetd: ChildProcess | undefined;
  const env: NodeJS.ProcessEnv = { PATH: '/usr/local/bin:/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0', LANG: 'C' };

  before(async () => {
    dir = await tempDir('superd-convert-e2e-');
    env.HOME = dir;
    const work = join(dir, 'work');
    base = join(dir, 'srv');
    await mkdir(work);
    await mkdir(base);
    ok(await runProgram(GIT, ['init', '-q', '-b', 'main', work], { env }), 'git init');
    await writeFile(join(work, 'README'), `converted from xinetd ${Date.now()}\n`);
    ok(await runProgram(GIT, ['-C', work, 'add', 'README'], { env }), 'git add');
    const who = ['-c', 'user.name=superd test', '-c', 'user.email=test@example.invalid'];
    ok(await runProgram(GIT, ['-C', work, ...who, 'commit', '-q', '-m', 'first'], { env }), 'git commit');
    ok(await runProgram(GIT, ['-C', work, ...who, 'tag', '-a', '-m', 'v1', 'v1'], { env }), 'git tag');
    ok(await runProgram(GIT, ['-C', work, 'branch', 'side'], { env }), 'git branch');
    ok(await runProgram(GIT, ['clone', '-q', '--bare', work, join(base, 'repo.git')], { env }), 'git clone --bare');

    [xinetdPort = 0] = await freePorts(1);
    xinetdFile = join(dir, 'git');
    await writeFile(xinetdFile, [
      '# git daemon, as an xinetd admin would write it',
      'service git',
      '{',
      '\ttype\t\t= UNLISTED',
      '\tsocket_type\t= stream',
      '\tprotocol\t= tcp',
      '\twait\t\t= no',
      `\tuser\t\t= ${userInfo().username}`,
      `\tserver\t\t= ${GIT}`,
      `\tserver_args\t= daemon --inetd --export-all --base-path=${base}`,
      '\tbind\t\t= 127.0.0.1',
      `\tport\t\t= ${xinetdPort}`,
      '\tinstances\t= 10',
      '\tlog_on_success\t+= HOST PID',
      '\tdisable\t\t= no',
      '}',
      '',
    ].join('\n'));

    const r = await runSuperd(['convert', xinetdFile], { timeoutMs: 20000 });
    assert.equal(r.code, 0, r.stderr);
    converted = r.stdout;
  });

  /** superd serving the converted file (on a port of its own: only the port line changes), started by whichever test needs it first. */
  const superdServing = once(async (): Promise<DaemonHandle> => {
    for (let attempt = 1; attempt <= 3; attempt++) {
      [superdPort = 0] = await freePorts(1);
      const text = converted.replace(/^port = \d+$/m, `port = ${superdPort}`);
      assert.notEqual(text, converted, 'the port line was found');
      const daemon = await startDaemon({ services: { 'git.conf': text } });
      const rec = await daemon.waitFor((r) => r.service === 'git' && (r.event === 'listening' || r.event === 'bind_failed'), 'git listening');
      if (rec.event === 'listening') return (d = daemon);
      await daemon.stop();
    }
    return assert.fail('superd listens for the converted service');
  });

  after(async () => {
    xinetd?.kill('SIGKILL');
    await d?.stop();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  test('the converted file serves git: ls-remote gets every ref the repository has', async () => {
    assert.match(converted, /^server = \/usr\/bin\/git$/m);
    assert.match(converted, new RegExp(`^args = daemon --inetd --export-all --base-path=${base}$`, 'm'));
    assert.match(converted, /^max_children = 10$/m);
    // Only the port changes: superd and xinetd may then run side by side.
    const daemon = await superdServing();
    const direct = ok(await runProgram(GIT, ['ls-remote', join(base, 'repo.git')], { env }), 'git ls-remote (local)');
    const served = ok(await runProgram(GIT, ['ls-remote', `git://127.0.0.1:${superdPort}/repo.git`], { env, timeoutMs: 20000 }), 'git ls-remote via superd');
    assert.deepEqual(refs(served.stdout), refs(direct.stdout));
    assert.ok(refs(served.stdout).some((l) => l.endsWith('\trefs/tags/v1')), served.stdout);
    await daemon.waitFor((r) => r.event === 'exited' && r.service === 'git', 'git daemon exited');
  });

  test('xinetd, on the original file, gives the same answer', { skip: !canRunXinetd && 'needs xinetd and root' }, async () => {
    await superdServing();
    const log = join(dir, 'xinetd.log');
    xinetd = spawn(XINETD, ['-dontfork', '-filelog', log, '-f', xinetdFile], { stdio: 'ignore' });
    const started = await eventually(async () => /Started working/.test(await readFile(log, 'utf8').catch(() => '')), 10000, 50);
    assert.ok(started, `xinetd started; its log:\n${await readFile(log, 'utf8').catch(() => '(none)')}`);
    const fromXinetd = ok(await runProgram(GIT, ['ls-remote', `git://127.0.0.1:${xinetdPort}/repo.git`], { env, timeoutMs: 20000 }), 'git ls-remote via xinetd');
    const fromSuperd = ok(await runProgram(GIT, ['ls-remote', `git://127.0.0.1:${superdPort}/repo.git`], { env, timeoutMs: 20000 }), 'git ls-remote via superd');
    assert.ok(refs(fromXinetd.stdout).length >= 3, fromXinetd.stdout);
    assert.deepEqual(refs(fromSuperd.stdout), refs(fromXinetd.stdout));
    const stopped = new Promise<void>((resolve) => xinetd?.once('exit', () => resolve()));
    xinetd.kill('SIGTERM');
    const timer = setTimeout(() => xinetd?.kill('SIGKILL'), 5000);
    await stopped;
    clearTimeout(timer);
    xinetd = undefined;
  });
});
