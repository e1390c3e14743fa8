// `superd convert` on inetd.conf files shaped like the ones OpenBSD, NetBSD,
// FreeBSD, busybox and Debian (update-inetd's marks) setups run
// (test/fixtures/convert/inetd-real/). What each converted service may let in
// is no more than the inetds that may have read the file let in: a bare `tcp`
// or `udp` is IPv4 only (tcp4, udp4) everywhere but in Debian's
// openbsd-inetd 0.20221205 and later, which is believed only for a file with
// update-inetd's marks on a host where dpkg has that openbsd-inetd installed;
// a unix socket gets the narrowest socket_mode the inetds gave it. Every
// conversion here is given its own HostFiles and hosts.allow/hosts.deny that
// do not exist: nothing is read from /etc.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { convert } from '../src/convert/convert.js';
import { compareDebianVersions, installedVersion } from '../src/convert/dpkg.js';
import type { HostFiles } from '../src/convert/fit.js';
import { DEBIAN_DUAL_STACK_SINCE } from '../src/convert/map-inetd.js';
import { ROOT, runSuperd, scratchDirs } from './helpers/daemon.js';
import { notRoot } from './helpers/proc.js';

/** What convert writes names users (user = nobody, root): `superd check` refuses that unless it runs as root. */
const CHECK_SKIP = notRoot('superd check accepts user = … only when it runs as root');

const FIXTURES = join(ROOT, 'test', 'fixtures', 'convert', 'inetd-real');
const DEBIAN_12 = '0.20221205-2~deb12u1';
const DEBIAN_11 = '0.20160825-5';

const scratch = scratchDirs('superd-convert-');

/** The users, groups and /etc/services entries the fixtures name; every program exists. */
function host(openbsdInetd?: string | null): HostFiles {
  const users = [
    ['root', 0, 0], ['nobody', 65534, 65534], ['_identd', 29, 29], ['identd', 110, 65534], ['tty', 4, 4],
    ['operator', 2, 5], ['www', 80, 80], ['www-data', 33, 33], ['gitdaemon', 111, 65534],
  ] as const;
  const groups = [['root', 0], ['wheel', 0], ['tty', 4], ['operator', 5], ['www', 80], ['nogroup', 65534]] as const;
  const ports: [string, number][] = [
    ['echo', 7], ['discard', 9], ['daytime', 13], ['chargen', 19], ['ftp', 21], ['telnet', 23], ['time', 37],
    ['finger', 79], ['ident', 113], ['swat', 901], ['rsync', 873],
  ].map(([n, p]) => [`${n as string}/tcp`, p as number]);
  ports.push(['comsat/udp', 512], ['talk/udp', 517], ['ntalk/udp', 518], ['tftp/udp', 69]);
  const h: HostFiles = {
    passwd: { users: users.map(([name, uid, gid]) => ({ name, uid, gid })), groups: groups.map(([name, gid]) => ({ name, gid })) },
    ports: new Map(ports),
    checkProgram: async () => null,
  };
  if (openbsdInetd !== undefined) h.openbsdInetd = openbsdInetd;
  return h;
}

interface Section {
  keys: Map<string, string>;
  comments: string[];
  /** Written as comments under `# not converted:`. */
  commented: boolean;
}

/** Section name -> its keys and comment lines, commented-out sections too (with their keys). */
function sections(text: string): Map<string, Section> {
  const out = new Map<string, Section>();
  for (const block of text.split(/\n\n/)) {
    const header = /^(# )?\[([A-Za-z0-9_-]+)\]$/m.exec(block);
    if (header === null) continue;
    const commented = header[1] !== undefined;
    const lines = block.split('\n');
    const keyLine = commented ? /^# ([a-z_]+) = (.*)$/ : /^([a-z_]+) = (.*)$/;
    const keys = new Map<string, string>();
    for (const l of lines) {
      const m = keyLine.exec(l);
      if (m !== null) keys.set(m[1] as string, m[2] as string);
    }
    out.set(header[2] as string, { keys, comments: lines.filter((l) => l.startsWith('#')), commented });
  }
  return out;
}

/**
 * One line per section: NAME PROTOCOL WHERE [socket_mode=…] [disabled|not converted],
 * WHERE being BIND:PORT for tcp and udp (`*` for every address) and the path for unix.
 */
function summary(all: Map<string, Section>): string[] {
  return [...all].map(([name, s]) => {
    const k = s.keys;
    const where = k.get('protocol') === 'unix' ? (k.get('path') ?? '?') : `${k.get('bind') ?? '*'}:${k.get('port') ?? '?'}`;
    const mode = k.has('socket_mode') ? ` socket_mode=${k.get('socket_mode') ?? ''}` : '';
    const state = s.commented ? ' not converted' : k.get('disabled') === 'yes' ? ' disabled' : '';
    return `${name} ${k.get('protocol') ?? 'tcp'} ${where}${mode}${state}`;
  });
}

function get(all: Map<string, Section>, name: string): Section {
  const s = all.get(name);
  assert.ok(s !== undefined, `no [${name}]; sections: ${[...all.keys()].join(' ')}`);
  return s;
}

function comment(s: Section, pattern: RegExp): void {
  assert.ok(s.comments.some((c) => pattern.test(c)), `no comment matching ${pattern} in:\n${s.comments.join('\n')}`);
}

async function converted(fixture: string, h: HostFiles): Promise<{ text: string; all: Map<string, Section> }> {
  const r = await convert(join(FIXTURES, fixture), { host: h, hostsAllow: '/nonexistent/a', hostsDeny: '/nonexistent/d' });
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  assert.equal(r.value.syntax, 'inetd');
  return { text: r.value.combined, all: sections(r.value.combined) };
}

const V4_NOTE = /^# inetd: (tcp|udp) — IPv4 only in OpenBSD's, FreeBSD's, NetBSD's and busybox's inetd; only Debian's openbsd-inetd 0\.20221205 and later adds IPv6.*; protocol = (tcp|udp) listens on IPv6 too$/;

describe("OpenBSD's /etc/inetd.conf", () => {
  test('tcp and udp lines are IPv4 only, tcp6 and udp6 IPv6 only: a pair per service, as OpenBSD listened', async () => {
    const { all } = await converted('openbsd.conf', host());
    assert.deepEqual(summary(all), [
      'ident tcp4 *:ident',
      'ident-tcp6 tcp6 *:ident',
      'comsat udp4 127.0.0.1:comsat',
      'comsat-udp6 udp6 ::1:comsat',
      'daytime tcp4 *:daytime',
      'daytime-tcp6 tcp6 *:daytime',
      'time tcp4 *:time',
      'time-tcp6 tcp6 *:time',
      'echo tcp4 *:echo',
      'echo-tcp6 tcp6 *:echo',
      'discard tcp4 *:discard',
      'discard-tcp6 tcp6 *:discard',
      'chargen tcp4 *:chargen',
      'chargen-tcp6 tcp6 *:chargen',
    ]);
    const ident = get(all, 'ident');
    comment(ident, V4_NOTE);
    assert.equal(ident.keys.get('user'), '_identd');
    assert.equal(ident.keys.get('args'), '-el');
    // An IPv4 address is IPv4 under every inetd: nothing to explain.
    const comsat = get(all, 'comsat');
    assert.ok(!comsat.comments.some((c) => /IPv4 only/.test(c)), comsat.comments.join('\n'));
    assert.equal(comsat.keys.get('wait'), 'yes');
    assert.ok(!get(all, 'ident-tcp6').comments.some((c) => /IPv4|IPv6/.test(c)), 'tcp6 means what it says');
  });

  test('the same file where Debian\'s openbsd-inetd is installed: no update-inetd marks, so still IPv4 only', async () => {
    const { all } = await converted('openbsd.conf', host(DEBIAN_12));
    assert.equal(get(all, 'ident').keys.get('protocol'), 'tcp4');
    assert.equal(get(all, 'daytime').keys.get('protocol'), 'tcp4');
  });
});

describe("NetBSD's /etc/inetd.conf", () => {
  test('ftpd -ll, fingerd, ntalkd and the internal services: tcp4/udp4 and tcp6/udp6', async () => {
    const { all } = await converted('netbsd.conf', host());
    assert.deepEqual(summary(all), [
      'ftp tcp4 *:ftp',
      'ftp-tcp6 tcp6 *:ftp',
      'finger tcp4 *:finger',
      'finger-tcp6 tcp6 *:finger',
      'ntalk udp4 *:ntalk',
      'ntalk-udp6 udp6 *:ntalk',
      'echo tcp4 *:echo',
      'discard tcp4 *:discard',
      'chargen tcp4 *:chargen',
      'daytime tcp4 *:daytime',
      'time tcp4 *:time',
      'echo-tcp6 tcp6 *:echo',
      'discard-tcp6 tcp6 *:discard',
      'chargen-tcp6 tcp6 *:chargen',
      'daytime-tcp6 tcp6 *:daytime',
      'time-tcp6 tcp6 *:time',
    ]);
    const ftp = get(all, 'ftp');
    assert.equal(ftp.keys.get('server'), '/usr/libexec/ftpd');
    assert.equal(ftp.keys.get('args'), '-ll');
    comment(ftp, V4_NOTE);
    const ntalk = get(all, 'ntalk');
    assert.equal(ntalk.keys.get('user'), 'nobody');
    assert.equal(ntalk.keys.get('group'), 'tty');
    comment(ntalk, /^# inetd: udp — IPv4 only .*; protocol = udp listens on IPv6 too$/);
  });
});

describe("FreeBSD's /etc/inetd.conf", () => {
  test('tcp/tcp6 pairs, /max-child forms, tcp46, and unix sockets no more open than FreeBSD made them', async () => {
    const { all } = await converted('freebsd.conf', host());
    assert.deepEqual(summary(all), [
      'ftp tcp4 *:ftp',
      'ftp-tcp6 tcp6 *:ftp',
      'finger tcp4 *:finger',
      'finger-tcp6 tcp6 *:finger',
      'comsat udp4 *:comsat',
      'tftp udp4 *:tftp',
      'tftp-udp6 udp6 *:tftp',
      'daytime tcp *:daytime',
      'uptime unix /var/run/uptime.sock socket_mode=0600',
      'backup unix /var/run/backup.sock socket_mode=0660',
      'cgi unix /var/run/www/cgi.sock socket_mode=0666',
    ]);
    const finger = get(all, 'finger');
    assert.equal(finger.keys.get('max_children'), '3');
    assert.equal(finger.keys.get('rate_per_source'), '10');
    assert.ok(!get(all, 'daytime').comments.some((c) => /IPv4/.test(c)), 'tcp46 is both families everywhere');

    // No :user:group:mode: — FreeBSD's root:wheel 0200, NetBSD's and busybox's umask: only root.
    comment(get(all, 'uptime'), /^# inetd: unix \/var\/run\/uptime\.sock — FreeBSD's inetd made the socket root's with mode 0200, NetBSD's and busybox's bound it under their umask \(0755 with the usual 022\), so only root could connect; OpenBSD's and Debian's openbsd-inetd make it 0666; 0600 lets only superd's own user \(root\) connect, socket_mode = 0666 lets every local user in$/);
    // root:wheel (gid 0 here, as superd's own socket's group): the same mode.
    const backup = get(all, 'backup');
    comment(backup, /^# inetd: :root:wheel:0660: — FreeBSD's inetd made the socket root:wheel with mode 0660; superd's is its own user's \(root\), with the same mode$/);
    assert.equal(backup.keys.get('max_children'), '4');
    assert.equal(backup.keys.get('user'), 'operator');
    // www:www 0666: anyone could connect there, so anyone may here.
    comment(get(all, 'cgi'), /^# inetd: :www:www:0666: — FreeBSD's inetd made the socket www:www with mode 0666; superd has no key for a socket's owner or group/);
  });

  test('a socket another user and group owned: only what every other user had there', async () => {
    const base = await scratch();
    const file = join(base, 'inetd.conf');
    await writeFile(file, [
      ':www:www:0660:/var/run/a.sock stream unix nowait www /usr/local/libexec/a a',
      ':root:operator:0660:/var/run/b.sock stream unix nowait root /usr/local/libexec/b b',
      ':www:wheel:0664:/var/run/c.sock stream unix nowait root /usr/local/libexec/c c',
      ':root:nosuchgroup:0777:/var/run/d.sock stream unix nowait root /usr/local/libexec/d d',
    ].join('\n'));
    const r = await convert(file, { host: host(), hostsAllow: '/nonexistent/a', hostsDeny: '/nonexistent/d' });
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    const all = sections(r.value.combined);
    // www's and www's group's, nobody else's: superd has no owner key, so root's alone.
    assert.equal(get(all, 'a').keys.get('socket_mode'), '0600');
    comment(get(all, 'a'), /0600 lets in no one FreeBSD's inetd did not$/);
    // operator's group may connect there, root's group not (unless in operator): neither here.
    assert.equal(get(all, 'b').keys.get('socket_mode'), '0600');
    // Owner www rw, group wheel (gid 0) rw, others r: root's group keeps what a non-www member had (rw & rw = rw), others r.
    assert.equal(get(all, 'c').keys.get('socket_mode'), '0664');
    // A group this host does not know is not superd's group: only what others had.
    assert.equal(get(all, 'd').keys.get('socket_mode'), '0777');
  });
});

describe("busybox's inetd.conf", () => {
  test('tcp is IPv4, tcp6 IPv6, numeric ports, a nowait udp tftpd, a unix socket under its umask', async () => {
    const { all } = await converted('busybox.conf', host());
    assert.deepEqual(summary(all), [
      'daytime tcp4 *:daytime',
      'time tcp4 *:time',
      'telnet tcp4 *:telnet',
      '21 tcp4 *:21',
      'tftp udp4 *:tftp disabled',
      '8080 tcp6 *:8080',
      'rescue unix /var/run/rescue.sock socket_mode=0600',
    ]);
    comment(get(all, 'tftp'), /^# disabled: the program was a nowait udp server/);
    assert.equal(get(all, '8080').keys.get('user'), 'www-data');
    assert.equal(get(all, 'rescue').keys.get('server'), '/bin/sh');
  });
});

describe("Debian's /etc/inetd.conf, with update-inetd's marks", () => {
  const expected = (v4: string, mode: string): string[] => [
    `daytime tcp${v4} *:daytime`,
    `telnet tcp${v4} *:telnet disabled`,
    'talk udp4 *:talk',
    'ntalk udp4 *:ntalk',
    `finger tcp${v4} *:finger`,
    `ident tcp${v4} *:ident`,
    `tftp udp${v4} *:tftp`,
    `swat tcp${v4} *:swat`,
    `rsync tcp${v4} 127.0.0.1:rsync`,
    `git-daemon unix /run/git-daemon.sock socket_mode=${mode}`,
  ];

  test("read by Debian's openbsd-inetd 0.20221205 or later (installed here): tcp and udp are both families, unix sockets 0666", async () => {
    const { all } = await converted('debian.conf', host(DEBIAN_12));
    assert.deepEqual(summary(all), expected('', '0666'));
    comment(get(all, 'daytime'), /^# inetd: tcp — IPv4 and IPv6 in Debian's openbsd-inetd 0\.20221205 and later, and this file has update-inetd's marks \(#:INTERNAL: at line 16\) and openbsd-inetd 0\.20221205-2~deb12u1 is installed here$/);
    comment(get(all, 'git-daemon'), /^# inetd: unix \/run\/git-daemon\.sock — Debian's openbsd-inetd binds unix sockets under umask 0111, mode 0666, and this file has update-inetd's marks/);
    comment(get(all, 'telnet'), /^# disabled: switched off in inetd\.conf \(#<off>#/);
    assert.equal(get(all, 'swat').keys.get('rate'), '400');
    assert.equal(get(all, 'swat').keys.get('server'), '/usr/sbin/swat');
    assert.equal(get(all, 'tftp').keys.get('args'), '/srv/tftp');
    assert.equal(get(all, 'talk').keys.get('group'), 'tty');
  });

  test('openbsd-inetd not installed here, or older (Debian 11): the file may be from an inetd whose tcp was IPv4 only', async () => {
    for (const installed of [undefined, null, DEBIAN_11]) {
      const { all } = await converted('debian.conf', host(installed));
      assert.deepEqual(summary(all), expected('4', '0600'), `openbsd-inetd ${String(installed)}`);
      const here = installed === DEBIAN_11 ? `the openbsd-inetd installed here is ${DEBIAN_11}` : 'openbsd-inetd is not installed here';
      comment(get(all, 'daytime'), new RegExp(`^# inetd: tcp — IPv4 only in .*, and this file has update-inetd's marks \\(#:INTERNAL: at line 16\\) but ${here.replace(/[.~]/g, '\\$&')}; protocol = tcp listens on IPv6 too$`));
    }
  });

  test('update-inetd\'s marks are its section lines or a #<off># entry', async () => {
    const base = await scratch();
    const off = join(base, 'off.conf');
    await writeFile(off, '#<off># telnet stream tcp nowait root /usr/sbin/tcpd /usr/sbin/in.telnetd\necho stream tcp nowait root internal\n');
    const plain = join(base, 'plain.conf');
    await writeFile(plain, '# Lines starting with "#:LABEL:" or "#<off>#" should not be changed\n#:lowercase: not a mark\necho stream tcp nowait root internal\n');
    const opts = { host: host(DEBIAN_12), hostsAllow: '/nonexistent/a', hostsDeny: '/nonexistent/d' };
    const a = await convert(off, opts);
    const b = await convert(plain, opts);
    assert.ok(a.ok && b.ok);
    assert.equal(get(sections(a.value.combined), 'echo').keys.get('protocol'), 'tcp');
    assert.equal(get(sections(b.value.combined), 'echo').keys.get('protocol'), 'tcp4');
  });
});

describe('an address and a family', () => {
  test('an IPv6 address on a tcp line: no BSD inetd listened there, so it is disabled unless the file is known to be Debian\'s', async () => {
    const base = await scratch();
    const bsd = join(base, 'bsd.conf');
    await writeFile(bsd, '[::1]:echo stream tcp nowait root internal\n::1:daytime stream tcp6 nowait root internal\n');
    const r = await convert(bsd, { host: host(DEBIAN_12), hostsAllow: '/nonexistent/a', hostsDeny: '/nonexistent/d' });
    assert.ok(r.ok);
    const all = sections(r.value.combined);
    assert.deepEqual(summary(all), ['echo tcp6 ::1:echo disabled', 'daytime tcp6 ::1:daytime']);
    comment(get(all, 'echo'), /^# disabled: its address ::1 is IPv6 and its protocol tcp, IPv4 only in OpenBSD's, FreeBSD's, NetBSD's and busybox's inetd: they did not listen there, only Debian's openbsd-inetd 0\.20221205 and later did$/);

    const debian = join(base, 'debian.conf');
    await writeFile(debian, '#:OTHER: Other services\n[::1]:echo stream tcp nowait root internal\n');
    const d = await convert(debian, { host: host(DEBIAN_12), hostsAllow: '/nonexistent/a', hostsDeny: '/nonexistent/d' });
    assert.ok(d.ok);
    assert.deepEqual(summary(sections(d.value.combined)), ['echo tcp ::1:echo']);
  });
});

describe('the version and the dpkg database', () => {
  test("Debian's version order", () => {
    assert.ok(compareDebianVersions(DEBIAN_12, DEBIAN_DUAL_STACK_SINCE) > 0);
    assert.ok(compareDebianVersions('0.20221205', DEBIAN_DUAL_STACK_SINCE) === 0);
    assert.ok(compareDebianVersions('0.20221205-1', DEBIAN_DUAL_STACK_SINCE) > 0);
    assert.ok(compareDebianVersions('0.20221205~rc1', DEBIAN_DUAL_STACK_SINCE) < 0);
    assert.ok(compareDebianVersions(DEBIAN_11, DEBIAN_DUAL_STACK_SINCE) < 0);
    assert.ok(compareDebianVersions('1:0.1', DEBIAN_DUAL_STACK_SINCE) > 0);
    assert.ok(compareDebianVersions('0.20230101-1+b1', DEBIAN_DUAL_STACK_SINCE) > 0);
    assert.ok(compareDebianVersions('1.0a', '1.0') > 0);
    assert.ok(compareDebianVersions('1.0+x', '1.0a') > 0);
  });

  test('the installed version: Status must end in installed', () => {
    const stanza = (status: string, version: string): string =>
      `Package: openbsd-inetd\nStatus: ${status}\nPriority: optional\nSection: net\nVersion: ${version}\nDescription: OpenBSD Internet Superserver\n`;
    const other = 'Package: update-inetd\nStatus: install ok installed\nVersion: 4.53\n';
    assert.equal(installedVersion(`${other}\n${stanza('install ok installed', DEBIAN_12)}`, 'openbsd-inetd'), DEBIAN_12);
    assert.equal(installedVersion(`${other}\n${stanza('hold ok installed', DEBIAN_11)}`, 'openbsd-inetd'), DEBIAN_11);
    assert.equal(installedVersion(`${other}\n${stanza('deinstall ok config-files', DEBIAN_12)}`, 'openbsd-inetd'), null);
    assert.equal(installedVersion(other, 'openbsd-inetd'), null);
    assert.equal(installedVersion('', 'openbsd-inetd'), null);
  });
});

describe('superd convert on the command line', { timeout: 60000 }, () => {
  test("FreeBSD's file converts, and superd check passes the output as it is", { skip: CHECK_SKIP }, async () => {
    const base = await scratch();
    const dir = join(base, 'services.d');
    await mkdir(dir, { mode: 0o755 });
    const r = await runSuperd(['convert', join(FIXTURES, 'freebsd.conf'), '-o', dir, '--hosts-allow', '/nonexistent/a', '--hosts-deny', '/nonexistent/d'], { timeoutMs: 20000 });
    assert.equal(r.code, 0, r.stderr);
    const checked = await runSuperd(['check', '-d', dir], { timeoutMs: 20000 });
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout, /^daytime \*:13\/tcp nowait builtin daytime$/m);
    assert.match(checked.stdout, /^uptime \/var\/run\/uptime\.sock\/unix nowait \/usr\/bin\/uptime user=root\(0\)$/m);
    assert.match(checked.stdout, /^ftp \*:21\/tcp4 disabled \/usr\/libexec\/ftpd -l user=root\(0\)$/m);
    assert.match(checked.stdout, /^ftp-tcp6 \*:21\/tcp6 disabled /m);
    assert.match(checked.stdout, /^tftp \*:69\/udp4 disabled /m);
  });
});
