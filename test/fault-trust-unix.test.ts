// Issue 23 and SPEC §2 `path`: superd (root) never follows a symlink when it
// makes, chmods, links or removes a unix socket file, even in a directory an
// unprivileged user can write. That user (nobody here) races every placing
// with renames and symlinks aimed at root's files; a symlink at the path
// itself is left alone (bind_failed); removal and shutdown take only the file
// superd made. Everything else serves throughout.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, readFile, readdir, readlink, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { serviceFile, startServices, scratchDirs, assertStillServes, type DaemonHandle } from './helpers/daemon.js';
import { fdCount } from './helpers/proc.js';
import { tryConnectUnix, unixExchange } from './helpers/unix.js';
import { eventually, within } from './helpers/wait.js';

const isRoot = process.getuid?.() === 0;
const SETPRIV = '/usr/bin/setpriv';
const NOBODY = 65534;
const needsRoot = !isRoot ? 'needs root: superd must run as root and the attacker as another user (nobody)' : !existsSync(SETPRIV) ? `needs ${SETPRIV} to run the attacker as nobody` : false;

const daemons: DaemonHandle[] = [];
const scratchDir = scratchDirs('superd-trust-unix-');
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(daemons.splice(0).map((d) => d.stop()));
});

/** What must never change: mode, owner and content of root's files the attacker aims at. */
interface Victims {
  file: string;
  dir: string;
  inDir: string;
}

async function makeVictims(base: string): Promise<Victims> {
  const file = join(base, 'victim');
  await writeFile(file, 'root only\n', { mode: 0o600 });
  const dir = join(base, 'victimdir');
  await mkdir(dir, { mode: 0o700 });
  const inDir = join(dir, 's');
  await writeFile(inDir, 'root only too\n', { mode: 0o600 });
  return { file, dir, inDir };
}

async function assertUntouched(v: Victims, when: string): Promise<void> {
  for (const [path, mode] of [[v.file, 0o600], [v.dir, 0o700], [v.inDir, 0o600]] as const) {
    const st = await lstat(path);
    assert.equal((st.mode & 0o7777).toString(8), mode.toString(8), `${when}: the mode of ${path}`);
    assert.equal(st.uid, 0, `${when}: the owner of ${path}`);
    assert.equal(st.gid, 0, `${when}: the group of ${path}`);
  }
  assert.equal(await readFile(v.file, 'utf8'), 'root only\n');
  assert.equal(await readFile(v.inDir, 'utf8'), 'root only too\n');
  assert.deepEqual(await readdir(v.dir), ['s'], `${when}: nothing made or removed in ${v.dir}`);
}

/** A scratch directory nobody can traverse, with `app` (nobody's, where the socket lives) and `evil` (nobody's). */
async function scratch(): Promise<{ base: string; app: string; evil: string }> {
  const base = await scratchDir();
  await chmod(base, 0o755);
  const app = join(base, 'app');
  const evil = join(base, 'evil');
  for (const d of [app, evil]) {
    await mkdir(d, { mode: 0o755 });
    await chown(d, NOBODY, NOBODY);
  }
  return { base, app, evil };
}

// The attacker, run as nobody. It watches the socket's directory in a tight
// loop; each new private directory (.superd-XXXXXX) it sees it renames away
// and replaces with a symlink, by turns:
//  0: to an empty directory of its own; once the bind lands there (root's
//     socket appears), that socket is swapped for a symlink to the victim
//     file, before root's chmod;
//  1: to a directory whose `s` already is a symlink to the victim file (a
//     swap after the bind, before the chmod);
//  2: the same, `s` a symlink to the victim directory;
//  3: straight to the victim directory, which holds root's file `s`.
// It stops when the stop file appears, and prints what it did.
const SWAPPER = `
const fs = require('node:fs');
const [dir, evilRoot, victimFile, victimDir, stopFile, tag] = process.argv.slice(2);
const seen = new Set();
let round = 0, swaps = 0, caught = 0, scans = 0;
let litter = [];
process.stdout.write('ready\\n');
for (;;) {
  if ((scans++ & 255) === 0 && fs.existsSync(stopFile)) break;
  let names;
  try { names = fs.readdirSync(dir); } catch { continue; }
  for (const n of names) {
    if (n.length !== 14 || !n.startsWith('.superd-') || seen.has(n)) continue;
    seen.add(n);
    const k = round++ % 4;
    const evil = evilRoot + '/' + tag + round;
    let target = evil;
    try {
      if (k === 3) target = victimDir;
      else fs.mkdirSync(evil);
      if (k === 1) fs.symlinkSync(victimFile, evil + '/s');
      if (k === 2) fs.symlinkSync(victimDir, evil + '/s');
      fs.renameSync(dir + '/' + n, dir + '/' + n + '.moved');
      fs.symlinkSync(target, dir + '/' + n);
      swaps++;
      process.stdout.write('swap\\n');
    } catch { continue; }
    if (k === 0) {
      for (let i = 0; i < 100000; i++) {
        try {
          fs.lstatSync(evil + '/s');
          fs.unlinkSync(evil + '/s');
          fs.symlinkSync(victimFile, evil + '/s');
          caught++;
          break;
        } catch {}
      }
    }
    // What the round before left here goes: a short directory is a fast scan.
    for (const old of litter) { try { fs.unlinkSync(dir + '/' + old); fs.rmdirSync(dir + '/' + old + '.moved'); } catch {} }
    litter = [n];
  }
}
process.stdout.write(JSON.stringify({ swaps, caught, seen: seen.size, scans }) + '\\n');
`;

interface Swapper {
  /** Swaps made so far (one `swap` line each). */
  swaps(): number;
  stop(): Promise<{ swaps: number; caught: number; seen: number; scans: number }>;
}

async function startSwapper(base: string, app: string, evil: string, v: Victims, tag: string): Promise<Swapper> {
  const script = join(base, 'swapper.cjs');
  await writeFile(script, SWAPPER, { mode: 0o644 });
  const stopFile = join(base, 'stop');
  const child = spawn(SETPRIV, ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, script, app, evil, v.file, v.dir, stopFile, tag], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  assert.ok(await eventually(() => out.startsWith('ready\n') || child.exitCode !== null, 10000), 'the swapper started');
  assert.ok(out.startsWith('ready\n'), `the swapper runs as nobody: ${err}`);
  return {
    swaps: () => out.split('\n').filter((l) => l === 'swap').length,
    stop: async () => {
      await writeFile(stopFile, '');
      await within(exited, 10000, 'the swapper stops');
      const last = out.trim().split('\n').at(-1) ?? '';
      assert.equal(child.exitCode, 0, `the swapper ended cleanly: ${err}`);
      return JSON.parse(last) as { swaps: number; caught: number; seen: number; scans: number };
    },
  };
}

const echo = (path: string, mode: string): Record<string, string> => ({ protocol: 'unix', path, socket_mode: mode, server: '/bin/cat' });

describe('unix socket files and symlinks (issue 23)', { timeout: 300000 }, () => {
  test('a racing swapper as nobody in the socket directory: no root file changes mode, superd serves on', { skip: needsRoot }, async () => {
    const { base, app, evil } = await scratch();
    const v = await makeVictims(base);
    const path = join(app, 'app.sock');
    const { d, port } = await startServices({ app: echo(path, '0666'), tcp: { protocol: 'tcp', bind: '127.0.0.1', server: '/bin/cat' } });
    daemons.push(d);
    assert.equal((await unixExchange(path, 'before\n')).data.toString(), 'before\n');
    const fdsBefore = await fdCount(d.pid);
    const swappers = [await startSwapper(base, app, evil, v, 'a'), await startSwapper(base, app, evil, v, 'b')];
    // Reloads go on until the swappers have got at enough placings (how many
    // they catch depends on the host's scheduling), within a bound.
    const wanted = 30;
    const swapped = (): number => swappers.reduce((n, s) => n + s.swaps(), 0);
    for (let i = 0; i < 1000 && (i < 100 || swapped() < wanted); i++) {
      // Each reload places the socket anew: its mode changed.
      await d.writeService('app.conf', serviceFile('app', echo(path, i % 2 === 0 ? '0660' : '0666')));
      await d.reload();
      await assertUntouched(v, `after reload ${i + 1}`);
      if (i % 10 === 0) await assertStillServes(d, port.tcp ?? 0);
    }
    const dids = await Promise.all(swappers.map((s) => s.stop()));
    const did = { swaps: dids.reduce((n, x) => n + x.swaps, 0), caught: dids.reduce((n, x) => n + x.caught, 0), seen: dids.reduce((n, x) => n + x.seen, 0) };
    assert.ok(did.swaps >= wanted, `the swappers got at ${wanted} placings or more: ${JSON.stringify(did)}`);
    // Some placings failed (the private directory replaced); the next one, unraced, serves.
    await d.writeService('app.conf', serviceFile('app', echo(path, '0640')));
    const summary = await d.reload();
    assert.equal(summary.errors, 0);
    assert.equal((await unixExchange(path, 'after\n')).data.toString(), 'after\n');
    const st = await lstat(path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o640);
    assert.equal(st.uid, 0);
    await assertUntouched(v, 'at the end');
    await assertStillServes(d, port.tcp ?? 0);
    const failures = d.logs.filter((r) => r.event === 'bind_failed');
    assert.ok(failures.every((r) => r.service === 'app'), 'only the raced service ever failed to bind');
    // No descriptor left behind by the placings that failed.
    assert.ok(await eventually(async () => (await fdCount(d.pid)) <= fdsBefore, 15000), `descriptors back to ${fdsBefore}: ${await fdCount(d.pid)}`);
  });

  test('a symlink at the socket path (to a root file, or dangling): bind_failed naming the service, the link and its target untouched', { skip: needsRoot }, async () => {
    const { base, app } = await scratch();
    const v = await makeVictims(base);
    const toVictim = join(app, 'victim.sock');
    const toDir = join(app, 'dir.sock');
    const dangling = join(app, 'dangling.sock');
    await symlink(v.file, toVictim);
    await symlink(v.dir, toDir);
    await symlink(join(base, 'nothing-here'), dangling);
    const { d, port } = await startServices(
      {
        victim: echo(toVictim, '0666'),
        dir: echo(toDir, '0666'),
        dangling: echo(dangling, '0666'),
        fine: echo(join(app, 'fine.sock'), '0666'),
        tcp: { protocol: 'tcp', bind: '127.0.0.1', server: '/bin/cat' },
      },
      { allowBindFailed: ['victim', 'dir', 'dangling'] },
    );
    daemons.push(d);
    for (const [name, link] of [['victim', toVictim], ['dir', toDir], ['dangling', dangling]] as const) {
      const failed = d.logs.find((r) => r.event === 'bind_failed' && r.service === name);
      assert.ok(failed !== undefined, `bind_failed for ${name}`);
      assert.match(String(failed.error), /not a socket \(a symbolic link/);
      assert.ok(String(failed.error).includes(link), `the error names ${link}: ${String(failed.error)}`);
      assert.ok((await lstat(link)).isSymbolicLink(), `${link} is still a symlink`);
    }
    assert.equal(await readlink(toVictim), v.file);
    assert.equal(await readlink(dangling), join(base, 'nothing-here'));
    assert.equal(existsSync(join(base, 'nothing-here')), false, 'nothing made where the dangling link points');
    await assertUntouched(v, 'after the binds');
    assert.equal((await unixExchange(join(app, 'fine.sock'), 'fine\n')).data.toString(), 'fine\n');
    await assertStillServes(d, port.tcp ?? 0);
    // A reload tries again (a changed mode): still left alone.
    await d.writeService('victim.conf', serviceFile('victim', echo(toVictim, '0660')));
    await d.reload();
    await d.waitForCount((r) => r.event === 'bind_failed' && r.service === 'victim', 2, 'bind_failed again');
    await assertUntouched(v, 'after the reload');
    assert.equal(await readlink(toVictim), v.file);
    await assertStillServes(d, port.tcp ?? 0);
  });

  test('removal and shutdown take only the socket superd made: never a replacement, never through a symlink', { skip: needsRoot }, async () => {
    const { base, app } = await scratch();
    const v = await makeVictims(base);
    const at = (name: string): string => join(app, `${name}.sock`);
    const names = ['kept', 'file', 'link', 'gone', 'down-kept', 'down-file', 'down-link'];
    const defs: Record<string, Record<string, string>> = { tcp: { protocol: 'tcp', bind: '127.0.0.1', server: '/bin/cat' } };
    for (const n of names) defs[n] = echo(at(n), '0666');
    defs.waiting = { protocol: 'unix', path: at('waiting'), wait: 'yes', server: '/bin/cat' };
    const { d, port } = await startServices(defs);
    daemons.push(d);
    // Where a bound socket's address still names a path in a directory others
    // can write (Node unlinks that path when it closes the socket), the
    // attacker plants a symlink to root's directory in its place.
    const planted = await plantAtBindPaths([app, d.dir], v.dir);

    // Replacements, as another program (or the attacker) would make them.
    const swapIn = async (name: string, kind: 'file' | 'link'): Promise<void> => {
      await unlink(at(name));
      if (kind === 'file') await writeFile(at(name), 'not superd\'s\n');
      else await symlink(v.file, at(name));
    };
    await swapIn('file', 'file');
    await swapIn('link', 'link');
    await swapIn('down-file', 'file');
    await swapIn('down-link', 'link');

    // Removal by reload.
    for (const n of ['kept', 'file', 'link', 'gone']) await d.writeService(`${n}.conf`, '# removed\n');
    await d.reload();
    assert.ok(await eventually(() => !existsSync(at('kept')), 15000), 'our own socket file is removed');
    assert.equal(await tryConnectUnix(at('kept'), 1000), 'ENOENT');
    assert.equal(await readFile(at('file'), 'utf8'), 'not superd\'s\n', 'a file that replaced ours stays');
    assert.equal(await readlink(at('link')), v.file, 'a symlink that replaced ours stays');
    await assertUntouched(v, `after the removal (planted ${planted})`);
    await assertStillServes(d, port.tcp ?? 0);

    // Shutdown.
    const stopped = await d.stop();
    daemons.splice(daemons.indexOf(d), 1);
    assert.equal(stopped.code, 0);
    assert.equal(existsSync(at('down-kept')), false, 'our own socket file goes at shutdown');
    assert.equal(existsSync(at('waiting')), false, 'a wait service\'s too');
    assert.equal(await readFile(at('down-file'), 'utf8'), 'not superd\'s\n');
    assert.equal(await readlink(at('down-link')), v.file);
    await assertUntouched(v, 'after shutdown');
    assert.deepEqual((await readdir(app)).filter((n) => n.startsWith('.superd-') && !isPlanted(n)), [], 'no private directory left behind');
  });
});

const plantedNames = new Set<string>();
const isPlanted = (name: string): boolean => plantedNames.has(name);

/**
 * For each unix socket bound at DIR/.superd-XXXXXX/s (as /proc/net/unix shows
 * them, to anyone) with DIR one of dirs: a symlink .superd-XXXXXX → target.
 * How many it planted.
 */
async function plantAtBindPaths(dirs: string[], target: string): Promise<number> {
  const table = await readFile('/proc/net/unix', 'utf8');
  let count = 0;
  for (const line of table.split('\n')) {
    const bound = line.trim().split(/\s+/)[7];
    if (bound === undefined) continue;
    for (const dir of dirs) {
      const m = new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/(\\.superd-[^/]{6})/s$`).exec(bound);
      if (m?.[1] === undefined || existsSync(join(dir, m[1]))) continue;
      await symlink(target, join(dir, m[1]));
      plantedNames.add(m[1]);
      count += 1;
    }
  }
  return count;
}
