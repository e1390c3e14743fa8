// user and group from an NSS source other than files (SPEC §2): Debian's
// libnss-extrausers, which reads /var/lib/extrausers/passwd and group. Each
// superd runs in a private mount namespace (unshare) where a copy of the
// host's /etc/nsswitch.conf with `extrausers` on its passwd and group lines,
// and a temporary directory, are bind-mounted over /etc/nsswitch.conf and
// /var/lib/extrausers: no test touches the host's /etc, and outside the
// namespace the user does not exist.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { exchange, freePorts } from './helpers/clients.js';
import { SUPERD, runSuperd, scratchDirs, serviceFile, startServices } from './helpers/daemon.js';
import { notRoot, runProgram } from './helpers/proc.js';

const LIBRARY_DIRS = ['/usr/lib', '/lib', ...['/usr/lib', '/lib'].flatMap((d) => (existsSync(d) ? readdirSync(d).filter((e) => e.endsWith('-linux-gnu')).map((e) => join(d, e)) : []))];

/** Why these tests cannot run here, or false. */
function whyNot(): string | false {
  const root = notRoot('bind-mounts over /etc/nsswitch.conf and /var/lib/extrausers in a private mount namespace');
  if (root !== false) return root;
  if (!LIBRARY_DIRS.some((d) => existsSync(join(d, 'libnss_extrausers.so.2')))) return 'libnss_extrausers.so.2 is not installed (Debian package libnss-extrausers)';
  if (!existsSync('/var/lib/extrausers')) return 'no /var/lib/extrausers to mount over (libnss-extrausers makes it)';
  // glibc asks a running nscd first, which answers with the host's view.
  if (existsSync('/var/run/nscd/socket')) return "nscd runs here: it would answer with the host's NSS, not the namespace's";
  const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true'], { encoding: 'utf8' });
  if (probe.error !== undefined) return `unshare cannot run: ${probe.error.message}`;
  if (probe.status !== 0) return `unshare --mount fails here: ${probe.stderr.trim()}`;
  return false;
}
const skip = whyNot();

/** Members enough that getgrnam_r's first buffer is too small: superd must retry with a bigger one (ERANGE). */
const BIG_GROUP_MEMBERS = Array.from({ length: 3000 }, (_, i) => `member${i}`);

interface Namespace {
  /** A launcher (startDaemon's) that runs the rest of its command line in the namespace, as the same process. */
  launcher: string[];
  dir: string;
}

/** The namespace's files under a new directory; `extrausers` is what /var/lib/extrausers will show. */
async function namespace(tmp: () => Promise<string>, extrausers: (dir: string) => Promise<void>): Promise<Namespace> {
  const dir = await tmp();
  await chmod(dir, 0o755);
  const nsswitch = join(dir, 'nsswitch.conf');
  const host = readFileSync('/etc/nsswitch.conf', 'utf8');
  await writeFile(nsswitch, host.replace(/^(passwd|group):(.*)$/gm, '$1:$2 extrausers'), { mode: 0o644 });
  const users = join(dir, 'extrausers');
  await mkdir(users, { mode: 0o755 });
  await extrausers(users);
  const script = 'mount --bind "$1" /etc/nsswitch.conf && mount --bind "$2" /var/lib/extrausers && shift 2 && exec "$@"';
  return { launcher: ['unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c', script, 'sh', nsswitch, users], dir };
}

async function nssUsers(users: string): Promise<void> {
  await writeFile(join(users, 'passwd'), 'nssuser:x:4242:4243::/nonexistent:/usr/sbin/nologin\n', { mode: 0o644 });
  await writeFile(join(users, 'group'), `nssgroup:x:4243:\nbiggroup:x:4244:${BIG_GROUP_MEMBERS.join(',')}\n`, { mode: 0o644 });
}

/** `superd check FILE` inside the namespace. */
function checkIn(ns: Namespace, file: string): ReturnType<typeof runProgram> {
  const [cmd, ...args] = ns.launcher;
  return runProgram(cmd ?? 'unshare', [...args, process.execPath, SUPERD, 'check', file], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeoutMs: 30000 });
}

describe('user and group through NSS: libnss-extrausers in a private mount namespace', { skip, timeout: 120000 }, () => {
  const tmp = scratchDirs('superd-nss-');
  let ns: Namespace;
  let file: string;
  before(async () => {
    ns = await namespace(tmp, nssUsers);
    file = join(ns.dir, 'nss.conf');
    await writeFile(
      file,
      serviceFile('as-user', { port: 7901, server: '/usr/bin/id', user: 'nssuser' }) +
        serviceFile('as-group', { port: 7902, server: '/usr/bin/id', group: 'nssgroup' }) +
        serviceFile('as-big-group', { port: 7903, server: '/usr/bin/id', user: 'nssuser', group: 'biggroup' }),
      { mode: 0o644 },
    );
  });

  test('superd check knows the user and the groups there (and not outside it)', async () => {
    const r = await checkIn(ns, file);
    assert.equal(r.code, 0, `superd check: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^as-user \*:7901\/tcp nowait \/usr\/bin\/id user=nssuser\(4242\)$/m);
    assert.match(r.stdout, /^as-group \*:7902\/tcp nowait \/usr\/bin\/id user=root\(0\)$/m);
    assert.match(r.stdout, /^as-big-group \*:7903\/tcp nowait \/usr\/bin\/id user=nssuser\(4242\)$/m);
    const outside = await runSuperd(['check', file]);
    assert.equal(outside.code, 1, 'outside the namespace nssuser exists nowhere');
    assert.match(outside.stdout + outside.stderr, /nss\.conf:4: \[as-user\] user must be a user name the system knows .* got 'nssuser'/);
  });

  test('superd convert takes an inetd.conf user from NSS as check does', async () => {
    const inetd = join(ns.dir, 'inetd.conf');
    await writeFile(inetd, '7906 stream tcp nowait nssuser /usr/bin/id id\n', { mode: 0o644 });
    const [cmd, ...args] = ns.launcher;
    const r = await runProgram(cmd ?? 'unshare', [...args, process.execPath, SUPERD, 'convert', inetd], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeoutMs: 30000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^user = nssuser$/m);
    assert.match(r.stderr, /1 enabled, 0 disabled, 0 not converted/);
  });

  // "did you mean" offers /etc/passwd's names and those other services' lookups found: NSS is never enumerated.
  test('a user that exists nowhere is still an error at its line', async () => {
    const ghost = join(ns.dir, 'ghost.conf');
    await writeFile(
      ghost,
      serviceFile('ghost', { port: 7904, server: '/usr/bin/id', user: 'nssusr' }) + serviceFile('known', { port: 7907, server: '/usr/bin/id', user: 'nssuser' }),
      { mode: 0o644 },
    );
    const r = await checkIn(ns, ghost);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout + r.stderr, /ghost\.conf:4: \[ghost\] user must be a user name the system knows \(\/etc\/passwd, LDAP, sssd… as \/etc\/nsswitch\.conf says\) or a numeric uid, got 'nssusr' \(did you mean 'nssuser'\?\)$/m);
    assert.match(r.stdout, /^known \*:7907\/tcp nowait \/usr\/bin\/id user=nssuser\(4242\)/m);
  });

  test('the daemon there runs the handler as uid 4242, gid 4243: /usr/bin/id says so', async (t) => {
    const served = await startServices(
      {
        id: { server: '/usr/bin/id', user: 'nssuser', bind: '127.0.0.1' },
        'id-group': { server: '/usr/bin/id', user: 'nssuser', group: 'biggroup', bind: '127.0.0.1' },
      },
      { launcher: ns.launcher },
    );
    t.after(() => served.d.stop());
    const r = await exchange(served.port.id ?? 0, '');
    assert.equal(r.data.toString(), 'uid=4242(nssuser) gid=4243(nssgroup) groups=4243(nssgroup)\n');
    const g = await exchange(served.port['id-group'] ?? 0, '');
    assert.equal(g.data.toString(), 'uid=4242(nssuser) gid=4244(biggroup) groups=4244(biggroup)\n');
    // A reload looks them up again, the same way.
    const [later] = await freePorts(1);
    await served.d.writeService('later.conf', serviceFile('later', { port: later ?? 0, bind: '127.0.0.1', server: '/usr/bin/id', group: 'nssgroup' }));
    await served.d.reload();
    await served.d.waitFor((l) => l.event === 'listening' && l.service === 'later', 'later listening');
    const l = await exchange(later ?? 0, '');
    assert.equal(l.data.toString(), 'uid=0(root) gid=4243(nssgroup) groups=4243(nssgroup)\n');
    assert.deepEqual(served.d.logs.filter((r) => r.level === 'error'), [], 'no errors logged');
  });
});

describe('a source that fails is not "no such user"', { skip, timeout: 60000 }, () => {
  const tmp = scratchDirs('superd-nss-broken-');
  test('extrausers whose passwd cannot be opened (ELOOP): the error names the failure, the service is refused', async () => {
    const ns = await namespace(tmp, async (users) => {
      await symlink('passwd', join(users, 'passwd'));
    });
    const file = join(ns.dir, 'broken.conf');
    await writeFile(file, serviceFile('as-user', { port: 7905, server: '/usr/bin/id', user: 'nssuser' }), { mode: 0o644 });
    const r = await checkIn(ns, file);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout + r.stderr, /broken\.conf:4: \[as-user\] user 'nssuser' could not be looked up \(getpwnam_r: .*\(ELOOP\)\): is the source \/etc\/nsswitch\.conf names for users \(LDAP, sssd…\) reachable\?/);
  });
});
