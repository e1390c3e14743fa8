// `superd convert` and the TCP wrappers: the rules of hosts.allow and
// hosts.deny that xinetd's libwrap and tcpd applied become the converted
// service's only_from / no_access. The tables are named with
// SUPERD_HOSTS_ALLOW / SUPERD_HOSTS_DENY or the options, never /etc's.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanIni } from '../src/config/scan.js';
import { convert } from '../src/convert/convert.js';
import type { HostFiles } from '../src/convert/fit.js';
import { runSuperd, scratchDirs } from './helpers/daemon.js';
import { notRoot } from './helpers/proc.js';

/** What convert writes names users (user = nobody, root): `superd check` refuses that unless it runs as root. */
const CHECK_SKIP = notRoot('superd check accepts user = … only when it runs as root');

const fresh = scratchDirs('superd-convert-wrap-');

const host: HostFiles = {
  passwd: { users: [{ name: 'root', uid: 0, gid: 0 }, { name: 'nobody', uid: 65534, gid: 65534 }], groups: [{ name: 'root', gid: 0 }] },
  ports: new Map([['tftp/udp', 69], ['telnet/tcp', 23], ['echo/tcp', 7], ['finger/tcp', 79]]),
  checkProgram: async () => null,
};

function keysOf(text: string, name: string): Map<string, string> {
  const s = scanIni('converted', text).sections.find((x) => x.name === name);
  assert.ok(s !== undefined, `no [${name}] in:\n${text}`);
  return new Map(s.entries.map((e) => [e.key, e.value]));
}

// A RHEL tftp file, as Red Hat ships it in /etc/xinetd.d/tftp.
const RHEL_TFTP = `# default: off
# description: The tftp server serves files using the trivial file transfer \\
#	protocol.  The tftp protocol is often used to boot diskless \\
#	workstations, download configuration files to network-aware printers, \\
#	and to start the installation process for some operating systems.
service tftp
{
	socket_type		= dgram
	protocol		= udp
	wait			= yes
	user			= root
	server			= /usr/sbin/in.tftpd
	server_args		= -s /var/lib/tftpboot
	disable			= no
	per_source		= 11
	cps			= 100 2
	flags			= IPv4
}
`;

describe('hosts.allow and hosts.deny become only_from and no_access', { timeout: 60000 }, () => {
  test("the issue's case: tftp as root, hosts.deny ALL: ALL, hosts.allow in.tftpd: 10/8 — only 10/8 gets in", { skip: CHECK_SKIP }, async () => {
    const dir = await fresh();
    await writeFile(join(dir, 'tftp'), RHEL_TFTP);
    await writeFile(join(dir, 'hosts.allow'), '# local\nin.tftpd: 10.0.0.0/255.0.0.0\n');
    await writeFile(join(dir, 'hosts.deny'), 'ALL: ALL\n');
    const env = { ...process.env, SUPERD_HOSTS_ALLOW: join(dir, 'hosts.allow'), SUPERD_HOSTS_DENY: join(dir, 'hosts.deny') };
    const r = await runSuperd(['convert', join(dir, 'tftp')], { env, timeoutMs: 20000 });
    assert.equal(r.code, 0, r.stderr);
    const tftp = keysOf(r.stdout, 'tftp');
    assert.equal(tftp.get('only_from'), '10.0.0.0/8');
    assert.equal(tftp.get('no_access'), undefined);
    assert.equal(tftp.get('disabled'), undefined);
    assert.equal(tftp.get('protocol'), 'udp4');
    assert.match(r.stdout, /^# xinetd: hosts\.allow\/hosts\.deny for in\.tftpd \(.*hosts\.allow:2, .*hosts\.deny:1\) — applied here$/m);
    // The same with the options, which win over the environment.
    await writeFile(join(dir, 'other.allow'), 'in.tftpd: 192.168.7.\n');
    const o = await runSuperd(['convert', '--hosts-allow', join(dir, 'other.allow'), join(dir, 'tftp')], { env, timeoutMs: 20000 });
    assert.equal(o.code, 0, o.stderr);
    assert.equal(keysOf(o.stdout, 'tftp').get('only_from'), '192.168.7.0/24');
    // What is written passes `superd check`.
    const out = join(dir, 'out');
    const w = await runSuperd(['convert', join(dir, 'tftp'), '-o', out], { env, timeoutMs: 20000 });
    assert.equal(w.code, 0, w.stderr);
    const c = await runSuperd(['check', '-d', out], { timeoutMs: 20000 });
    assert.equal(c.code, 0, c.stdout + c.stderr);
  });

  test('flags = NOLIBWRAP: the tables do not apply; libwrap = NAME: they apply under that name', async () => {
    const dir = await fresh();
    const file = join(dir, 'x');
    const svc = (name: string, extra: string): string =>
      `service ${name}\n{\n\ttype = UNLISTED\n\tsocket_type = stream\n\twait = no\n\tuser = nobody\n\tserver = /usr/bin/tail\n\tport = 7000\n\tbind = 127.0.0.${name === 'a' ? 1 : name === 'b' ? 2 : 3}\n${extra}}\n`;
    await writeFile(file, svc('a', '\tflags = NOLIBWRAP\n') + svc('b', '\tlibwrap = special\n') + svc('c', ''));
    await writeFile(join(dir, 'allow'), 'special: 10.9.0.0/16\ntail: [2001:db8::]/32\n');
    await writeFile(join(dir, 'deny'), 'ALL: ALL\n');
    const r = await convert(file, { host, hostsAllow: join(dir, 'allow'), hostsDeny: join(dir, 'deny') });
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    assert.equal(keysOf(r.value.combined, 'a').get('only_from'), undefined);
    assert.equal(keysOf(r.value.combined, 'b').get('only_from'), '10.9.0.0/16');
    assert.equal(keysOf(r.value.combined, 'c').get('only_from'), '2001:db8::/32', 'the base name of server');
  });

  test('an internal service is asked about under its service name; a rule that lets nobody in disables it', async () => {
    const dir = await fresh();
    const file = join(dir, 'echo');
    await writeFile(file, 'service echo\n{\n\ttype = INTERNAL\n\tid = echo-stream\n\tsocket_type = stream\n\twait = no\n}\n');
    await writeFile(join(dir, 'deny'), 'echo: ALL\n');
    const r = await convert(file, { host, hostsAllow: join(dir, 'none'), hostsDeny: join(dir, 'deny') });
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    const echo = keysOf(r.value.combined, 'echo-stream');
    assert.equal(echo.get('disabled'), 'yes');
    assert.match(r.value.combined, /^# disabled: hosts\.allow\/hosts\.deny for echo \(.*deny:1\) let nobody in$/m);
  });

  test('inetd.conf: tcpd with a bare daemon name runs it from /usr/sbin, with its rules', async () => {
    const dir = await fresh();
    const file = join(dir, 'inetd.conf');
    await writeFile(file, 'telnet\tstream\ttcp\tnowait\troot\t/usr/sbin/tcpd\tin.telnetd\nfinger\tstream\ttcp\tnowait\tnobody\t/usr/sbin/tcpd\t/usr/sbin/in.fingerd -w\n');
    await writeFile(join(dir, 'allow'), 'in.telnetd: 192.168.0.0/16 EXCEPT 192.168.66.0/24\n');
    await writeFile(join(dir, 'deny'), 'in.telnetd: ALL\nin.fingerd: 10.0.0.0/8 [::1]\n');
    const r = await convert(file, { host, hostsAllow: join(dir, 'allow'), hostsDeny: join(dir, 'deny') });
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    const telnet = keysOf(r.value.combined, 'telnet');
    assert.equal(telnet.get('server'), '/usr/sbin/in.telnetd');
    assert.equal(telnet.get('disabled'), undefined);
    assert.equal(telnet.get('only_from'), '192.168.0.0/18 192.168.64.0/23 192.168.67.0/24 192.168.68.0/22 192.168.72.0/21 192.168.80.0/20 192.168.96.0/19 192.168.128.0/17');
    assert.match(r.value.combined, /^# inetd: server \/usr\/sbin\/tcpd in\.telnetd — tcpd is left out: superd runs the program itself, found as tcpd finds it, in \/usr\/sbin, and applies tcpd's hosts\.allow and hosts\.deny rules for in\.telnetd as only_from and no_access$/m);
    const finger = keysOf(r.value.combined, 'finger');
    assert.equal(finger.get('server'), '/usr/sbin/in.fingerd');
    assert.equal(finger.get('args'), '-w');
    assert.equal(finger.get('only_from'), undefined);
    assert.equal(finger.get('no_access'), '10.0.0.0/8 ::1');
  });

  test('a table that cannot be read stops the conversion, naming it', async () => {
    const dir = await fresh();
    await writeFile(join(dir, 'tftp'), RHEL_TFTP);
    await mkdir(join(dir, 'allow.d'));
    const r = await runSuperd(['convert', '--hosts-allow', join(dir, 'allow.d'), join(dir, 'tftp')], { timeoutMs: 20000 });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^${join(dir, 'allow.d').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot read it \\(EISDIR\\), and without it the access rules tcpd and xinetd applied are unknown`, 'm'));
  });
});
