// `superd convert` on inetd.conf: a typical Debian /etc/inetd.conf
// (test/fixtures/convert/inetd.conf: the internal services, git daemon,
// rsync on tcp6, tftp, a tcpd-wrapped finger, an entry update-inetd switched
// off, a commented-out line, an address prefix), then the other inetds'
// forms: FreeBSD's limits, tcp46, rpc, an address line. The fixture has
// update-inetd's marks, so its `tcp` and `udp` stay both families where
// dpkg says Debian's openbsd-inetd 0.20221205 or later is installed, and are
// tcp4 and udp4 elsewhere (convert-inetd-real.test.ts has both cases with
// HostFiles of its own).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanIni } from '../src/config/scan.js';
import { convert } from '../src/convert/convert.js';
import { compareDebianVersions, DPKG_STATUS, installedVersion } from '../src/convert/dpkg.js';
import type { HostFiles } from '../src/convert/fit.js';
import { DEBIAN_DUAL_STACK_SINCE } from '../src/convert/map-inetd.js';
import { ROOT, runSuperd, scratchDirs, type CliResult } from './helpers/daemon.js';
import { once } from './helpers/wait.js';
import { notRoot } from './helpers/proc.js';

/** What convert writes names users (user = nobody, root): `superd check` refuses that unless it runs as root. */
const CHECK_SKIP = notRoot('superd check accepts user = … only when it runs as root');

const FIXTURE = join(ROOT, 'test', 'fixtures', 'convert', 'inetd.conf');

const scratch = scratchDirs('superd-convert-');

async function checkText(text: string): Promise<CliResult> {
  const base = await scratch();
  const dir = join(base, 'services.d');
  await mkdir(dir, { mode: 0o755 });
  await writeFile(join(dir, 'inetd.conf'), text, { mode: 0o644 });
  const r = await runSuperd(['check', '-d', dir], { timeoutMs: 20000 });
  assert.equal(r.timedOut, false);
  return r;
}

/** Section name -> its keys, and the comment lines of its block (commented-out sections too). */
function sections(text: string): Map<string, { keys: Map<string, string>; comments: string[] }> {
  const out = new Map<string, { keys: Map<string, string>; comments: string[] }>();
  for (const s of scanIni('converted', text).sections) out.set(s.name, { keys: new Map(s.entries.map((e) => [e.key, e.value])), comments: [] });
  for (const block of text.split(/\n\n/)) {
    const header = /^#? ?\[([A-Za-z0-9_-]+)\]$/m.exec(block);
    if (header === null) continue;
    const entry = out.get(header[1] as string) ?? { keys: new Map<string, string>(), comments: [] };
    entry.comments = block.split('\n').filter((l) => l.startsWith('#'));
    out.set(header[1] as string, entry);
  }
  return out;
}

function get(all: ReturnType<typeof sections>, name: string): { keys: Map<string, string>; comments: string[] } {
  const s = all.get(name);
  assert.ok(s !== undefined, `no [${name}]; sections: ${[...all.keys()].join(' ')}`);
  return s;
}

function comment(s: { comments: string[] }, pattern: RegExp): void {
  assert.ok(s.comments.some((c) => pattern.test(c)), `no comment matching ${pattern} in:\n${s.comments.join('\n')}`);
}

/** '' where this host's openbsd-inetd reads `tcp` as both families (as `superd convert` finds from dpkg), '4' elsewhere. */
async function hostFamily(): Promise<string> {
  const installed = installedVersion(await readFile(DPKG_STATUS, 'utf8').catch(() => ''), 'openbsd-inetd');
  return installed !== null && compareDebianVersions(installed, DEBIAN_DUAL_STACK_SINCE) >= 0 ? '' : '4';
}

describe('a typical /etc/inetd.conf', { timeout: 60000 }, () => {
  /** The fixture converted, once, for the tests that read it (each may run alone). */
  const fixture = once(async () => {
    const r = await runSuperd(['convert', FIXTURE], { timeoutMs: 20000 });
    assert.equal(r.code, 0, r.stderr);
    return { text: r.stdout, all: sections(r.stdout), v4: await hostFamily() };
  });

  test('converts to stdout, and superd check passes it as it is', { skip: CHECK_SKIP }, async () => {
    const { text, v4 } = await fixture();
    const checked = await checkText(text);
    assert.equal(checked.code, 0, `superd check failed:\n${checked.stderr}\n--- converted:\n${text}`);
    assert.match(checked.stdout, new RegExp(`^echo \\*:7/tcp${v4} nowait builtin echo$`, 'm'));
    assert.match(checked.stdout, new RegExp(`^git \\*:9418/tcp${v4} nowait /usr/bin/git daemon --inetd --export-all --base-path=/srv/git /srv/git user=nobody\\(65534\\)$`, 'm'));
  });

  test('the internal services are builtins; tcp and udp echo are two services', async () => {
    const { all, v4 } = await fixture();
    for (const b of ['echo', 'discard', 'daytime', 'time', 'chargen']) {
      const s = get(all, b);
      assert.equal(s.keys.get('builtin'), b);
      assert.equal(s.keys.get('protocol'), `tcp${v4}`);
      if (v4 !== '') comment(s, /^# inetd: tcp — IPv4 only in .*, and this file has update-inetd's marks \(#:INTERNAL: at line 10\) but .*; protocol = tcp listens on IPv6 too$/);
      assert.equal(s.keys.get('port'), b);
      assert.equal(s.keys.has('user'), false);
    }
    const udp = get(all, 'echo-udp');
    assert.equal(udp.keys.get('builtin'), 'echo');
    assert.equal(udp.keys.get('protocol'), `udp${v4}`);
    comment(udp, /^# named echo-udp: echo is taken by the service from .*inetd\.conf:11$/);
  });

  test('programs: argv[0] dropped (said when it differs), user.group and user:group, .max as rate', async () => {
    const { all } = await fixture();
    const git = get(all, 'git');
    assert.equal(git.keys.get('args'), 'daemon --inetd --export-all --base-path=/srv/git /srv/git');
    assert.equal(git.keys.get('user'), 'nobody');
    assert.equal(git.keys.get('group'), 'nogroup');
    assert.equal(git.keys.get('rate'), '40');
    comment(git, /^# inetd: nowait\.40 — past this many a minute inetd stopped the service for ten minutes; superd never stops it/);
    assert.ok(!git.comments.some((c) => c.includes('argv[0]')), 'argv[0] git is the base name: nothing to say');

    const rsync = get(all, 'rsync');
    assert.equal(rsync.keys.get('protocol'), 'tcp6');
    assert.equal(rsync.keys.get('args'), '--daemon');
    comment(rsync, /^# inetd: argv\[0\] 'rsyncd' — superd passes the base name 'rsync' as argv\[0\]/);

    const talk = get(all, 'talk');
    assert.equal(talk.keys.get('user'), 'nobody');
    assert.equal(talk.keys.get('group'), 'tty');
  });

  test('tftp is a udp wait service (disabled only where in.tftpd is missing)', async () => {
    const { all, v4 } = await fixture();
    const tftp = get(all, 'tftp');
    assert.equal(tftp.keys.get('protocol'), `udp${v4}`);
    assert.equal(tftp.keys.get('wait'), 'yes');
    assert.equal(tftp.keys.get('server'), '/usr/sbin/in.tftpd');
    assert.equal(tftp.keys.get('args'), '-s /srv/tftp');
    assert.equal(tftp.keys.get('disabled'), existsSync('/usr/sbin/in.tftpd') ? undefined : 'yes');
  });

  test('tcpd is unwrapped; an address prefix is bind; programs missing here are disabled', async () => {
    const { all, v4 } = await fixture();
    const finger = get(all, 'finger');
    assert.equal(finger.keys.get('server'), '/usr/sbin/in.fingerd');
    comment(finger, /^# inetd: server \/usr\/sbin\/tcpd \/usr\/sbin\/in\.fingerd — tcpd is left out/);
    const ident = get(all, 'ident');
    assert.equal(ident.keys.get('bind'), '127.0.0.1');
    assert.equal(ident.keys.get('protocol'), `tcp${v4}`, 'an IPv4 address is IPv4 under every inetd');
    assert.equal(ident.keys.get('port'), 'ident');
    if (!existsSync('/usr/sbin/identd')) comment(ident, /^# disabled: server '\/usr\/sbin\/identd' does not exist on this host/);
  });

  test('-o into a services dir that has services: their names and ports are not taken again', { skip: CHECK_SKIP }, async () => {
    const v4 = await hostFamily();
    const base = await scratch();
    const dir = join(base, 'services.d');
    await mkdir(dir, { mode: 0o755 });
    await writeFile(join(dir, 'echo.conf'), '[echo]\nport = 7\nbuiltin = echo\n', { mode: 0o644 });
    const r = await runSuperd(['convert', FIXTURE, '-o', dir], { timeoutMs: 20000 });
    assert.equal(r.code, 0, r.stderr);
    const converted = sections(await readFile(join(dir, 'inetd.conf'), 'utf8'));
    const echo = get(converted, 'echo-tcp');
    comment(echo, /^# named echo-tcp: echo is taken by the service from .*echo\.conf:1$/);
    comment(echo, new RegExp(`^# disabled: its listen address \\*:7/tcp${v4} is taken by \\[echo\\] \\(\\*:7/tcp\\) from .*echo\\.conf:1$`));
    const checked = await runSuperd(['check', '-d', dir], { timeoutMs: 20000 });
    assert.equal(checked.code, 0, checked.stderr);
  });

  test("update-inetd's #<off># entry is a service that is off; a commented-out line stays a comment", async () => {
    const { text, all } = await fixture();
    const telnet = get(all, 'telnet');
    comment(telnet, /^# disabled: switched off in inetd\.conf \(#<off>#/);
    assert.ok(!all.has('ftp'), 'a plain commented-out line is no service');
    assert.match(text, /^#ftp\t\tstream\ttcp\tnowait\troot\t\/usr\/sbin\/tcpd\t\/usr\/sbin\/in\.ftpd$/m);
    assert.match(text, /^#:INTERNAL: Internal services$/m, 'the comments are kept');
  });
});

describe('the other inetds', { timeout: 60000 }, () => {
  const host: HostFiles = {
    passwd: { users: [{ name: 'root', uid: 0, gid: 0 }, { name: 'nobody', uid: 65534, gid: 65534 }], groups: [{ name: 'root', gid: 0 }] },
    ports: new Map([['ftp/tcp', 21], ['talk/udp', 517], ['echo/tcp', 7], ['echo/udp', 7], ['daytime/tcp', 13]]),
    checkProgram: async () => null,
  };

  async function convertText(body: string): Promise<ReturnType<typeof sections>> {
    const base = await scratch();
    await writeFile(join(base, 'inetd.conf'), body);
    const r = await convert(join(base, 'inetd.conf'), { host, hostsAllow: '/nonexistent/hosts.allow', hostsDeny: '/nonexistent/hosts.deny' });
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    return sections(r.value.combined);
  }

  test("FreeBSD's /max-child/per-ip-per-minute/per-ip-child, and tcp46", async () => {
    const all = await convertText('ftp stream tcp46 nowait/10/20/3 root /usr/libexec/ftpd ftpd -l\n');
    const ftp = get(all, 'ftp');
    assert.equal(ftp.keys.get('protocol'), 'tcp');
    assert.equal(ftp.keys.get('max_children'), '10');
    assert.equal(ftp.keys.get('rate_per_source'), '20');
    assert.equal(ftp.keys.get('max_per_source'), '3');
    assert.equal(ftp.keys.get('args'), '-l');
  });

  test("NetBSD's nowait:MAX is the per-minute rate OpenBSD writes nowait.MAX", async () => {
    const all = await convertText('ftp stream tcp nowait:40 root /usr/libexec/ftpd ftpd -ll\n');
    const ftp = get(all, 'ftp');
    assert.equal(ftp.keys.get('rate'), '40');
    assert.equal(ftp.keys.get('protocol'), 'tcp4');
    assert.equal(ftp.keys.get('args'), '-ll');
  });

  test('a nowait udp program is written wait = yes and disabled; rpc is not converted', async () => {
    const all = await convertText('talk dgram udp nowait nobody /usr/sbin/in.talkd in.talkd\nrstatd/2-4 dgram rpc/udp wait root /usr/sbin/rpc.rstatd rpc.rstatd\n');
    const talk = get(all, 'talk');
    assert.equal(talk.keys.get('wait'), 'yes');
    assert.equal(talk.keys.get('disabled'), 'yes');
    comment(talk, /^# inetd: nowait — superd starts a udp program only as wait = yes/);
    const rstatd = get(all, 'rstatd-2-4');
    assert.equal(rstatd.keys.size, 0);
    comment(rstatd, /^# not converted: rpc\/udp: superd does not register RPC services/);
  });

  test("OpenBSD's address line applies to the lines after it; a host name is not an address", async () => {
    const all = await convertText('127.0.0.1:\necho stream tcp nowait root internal\nlocalhost:daytime stream tcp nowait root internal\n');
    assert.equal(get(all, 'echo').keys.get('bind'), '127.0.0.1');
    const daytime = get(all, 'daytime');
    assert.equal(daytime.keys.get('disabled'), 'yes');
    comment(daytime, /^# disabled: its address localhost is a host name/);
  });

  test('an address list makes one service per address; tcp on an IPv6 address served nothing outside Debian', async () => {
    const all = await convertText('127.0.0.1,::1:echo stream tcp nowait root internal\n');
    assert.equal(get(all, 'echo').keys.get('bind'), '127.0.0.1');
    assert.equal(get(all, 'echo').keys.get('protocol'), 'tcp4');
    assert.equal(get(all, 'echo').keys.get('disabled'), undefined);
    const v6 = get(all, 'echo-tcp');
    assert.equal(v6.keys.get('bind'), '::1');
    assert.equal(v6.keys.get('protocol'), 'tcp6');
    assert.equal(v6.keys.get('disabled'), 'yes');
    comment(v6, /^# disabled: its address ::1 is IPv6 and its protocol tcp, IPv4 only in OpenBSD's, FreeBSD's, NetBSD's and busybox's inetd/);
  });

  test("a bare tcp or udp is IPv4 only, with how to widen it; tcp4, tcp6 and udp6 mean what they say", async () => {
    const all = await convertText('daytime stream tcp nowait root internal\ntalk dgram udp wait nobody /usr/sbin/in.talkd in.talkd\n' +
      'ftp stream tcp6 nowait root /usr/libexec/ftpd ftpd\necho stream tcp4 nowait root internal\n');
    assert.equal(get(all, 'daytime').keys.get('protocol'), 'tcp4');
    comment(get(all, 'daytime'), /^# inetd: tcp — IPv4 only in OpenBSD's, FreeBSD's, NetBSD's and busybox's inetd; only Debian's openbsd-inetd 0\.20221205 and later adds IPv6; protocol = tcp listens on IPv6 too$/);
    assert.equal(get(all, 'talk').keys.get('protocol'), 'udp4');
    comment(get(all, 'talk'), /^# inetd: udp — IPv4 only .*; protocol = udp listens on IPv6 too$/);
    assert.equal(get(all, 'ftp').keys.get('protocol'), 'tcp6');
    assert.equal(get(all, 'echo').keys.get('protocol'), 'tcp4');
    assert.ok(!get(all, 'echo').comments.some((c) => /IPv4 only/.test(c)));
  });

  test('a unix socket: 0600 unless FreeBSD\'s :user:group:mode: or Debian\'s openbsd-inetd said otherwise', async () => {
    const all = await convertText('/run/a.sock stream unix nowait root /usr/bin/a a\n:root:root:0640:/run/b.sock stream unix nowait root /usr/bin/b b\n');
    assert.equal(get(all, 'a').keys.get('path'), '/run/a.sock');
    assert.equal(get(all, 'a').keys.get('socket_mode'), '0600');
    assert.equal(get(all, 'b').keys.get('path'), '/run/b.sock');
    assert.equal(get(all, 'b').keys.get('socket_mode'), '0640');
  });
});
