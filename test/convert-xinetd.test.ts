// `superd convert` on xinetd configurations: the files Debian's xinetd
// package ships in /etc/xinetd.d, and a hand-written set
// (test/fixtures/convert/xinetd) with every attribute superd maps and many it
// cannot. The output must pass `superd check` as it is, say why a service is
// disabled or not converted, and map each value to what superd means by it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanIni } from '../src/config/scan.js';
import { splitWords } from '../src/config/words.js';
import { convert } from '../src/convert/convert.js';
import { ROOT, runSuperd, scratchDirs, type CliResult } from './helpers/daemon.js';
import { once } from './helpers/wait.js';
import { notRoot } from './helpers/proc.js';

/** What convert writes names users (user = nobody, root): `superd check` refuses that unless it runs as root. */
const CHECK_SKIP = notRoot('superd check accepts user = … only when it runs as root');

const FIXTURE = join(ROOT, 'test', 'fixtures', 'convert', 'xinetd');
const haveDebianXinetd = existsSync('/etc/xinetd.d/echo') && existsSync('/etc/xinetd.d/servers');

const freshDir = scratchDirs('superd-convert-');

function finished(r: CliResult, what: string): CliResult {
  assert.equal(r.timedOut, false, `${what} finished by itself`);
  return r;
}

/** `superd convert ARGS`. */
async function convertCli(...args: string[]): Promise<CliResult> {
  return finished(await runSuperd(['convert', ...args], { timeoutMs: 20000 }), 'superd convert');
}

/** `superd check` on a services dir holding `files` (root-owned when we are root, mode 0755/0644 as superd wants). */
async function checkFiles(files: Record<string, string>): Promise<CliResult> {
  const dir = join(await freshDir(), 'services.d');
  await mkdir(dir, { mode: 0o755 });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text, { mode: 0o644 });
  return checkDir(dir);
}

async function checkDir(dir: string): Promise<CliResult> {
  return finished(await runSuperd(['check', '-d', dir], { timeoutMs: 20000 }), 'superd check');
}

interface Section {
  keys: Map<string, string>;
  /** The comment lines of the section's block, from the line naming the source to the next block. */
  comments: string[];
}

/** The sections of a converted file, and for each (commented-out ones too) the comments around it. */
function sections(text: string): Map<string, Section> {
  const out = new Map<string, Section>();
  for (const s of scanIni('converted', text).sections) out.set(s.name, { keys: new Map(s.entries.map((e) => [e.key, e.value])), comments: [] });
  for (const block of text.split(/\n\n/)) {
    const header = /^# \[([A-Za-z0-9_-]+)\]$/m.exec(block) ?? /^\[([A-Za-z0-9_-]+)\]$/m.exec(block);
    if (header === null) continue;
    const name = header[1] as string;
    const entry = out.get(name) ?? { keys: new Map<string, string>(), comments: [] };
    entry.comments = block.split('\n').filter((l) => l.startsWith('#'));
    out.set(name, entry);
  }
  return out;
}

function section(all: Map<string, Section>, name: string): Section {
  const s = all.get(name);
  assert.ok(s !== undefined, `no [${name}] in the output; sections: ${[...all.keys()].join(' ')}`);
  return s;
}

function hasComment(s: Section, pattern: RegExp, name: string): void {
  assert.ok(s.comments.some((c) => pattern.test(c)), `[${name}] has no comment matching ${pattern}; comments:\n${s.comments.join('\n')}`);
}

const notConverted = (s: Section): boolean => s.keys.size === 0 && s.comments.some((c) => c.startsWith('# not converted: '));

describe("Debian's xinetd package", { skip: !haveDebianXinetd && 'xinetd is not installed (apt-get install xinetd)', timeout: 120000 }, () => {
  test('/etc/xinetd.d to stdout: superd check passes, every service is there, disabled as it was', async () => {
    const r = await convertCli('/etc/xinetd.d');
    assert.equal(r.code, 0, r.stderr);
    const checked = await checkFiles({ 'xinetd.conf': r.stdout });
    assert.equal(checked.code, 0, `superd check failed:\n${checked.stderr}\n--- converted:\n${r.stdout}`);
    const all = sections(r.stdout);
    for (const builtin of ['chargen', 'daytime', 'discard', 'echo', 'time']) {
      const stream = section(all, `${builtin}-stream`);
      assert.equal(stream.keys.get('builtin'), builtin);
      assert.equal(stream.keys.get('protocol'), 'tcp4');
      assert.equal(stream.keys.get('port'), builtin, 'the service name, looked up in /etc/services as xinetd does');
      assert.equal(stream.keys.get('disabled'), 'yes');
      assert.equal(stream.keys.has('user'), false, 'builtins take no user');
      hasComment(stream, /^# xinetd: user = root — superd has no equivalent: builtins run inside superd/, `${builtin}-stream`);
      hasComment(stream, /^# disabled: disable = yes in xinetd$/, `${builtin}-stream`);
      const dgram = section(all, `${builtin}-dgram`);
      assert.equal(dgram.keys.get('protocol'), 'udp4');
      assert.equal(dgram.keys.get('builtin'), builtin);
      // The same id again in BUILTIN-udp: renamed, and said so.
      const again = section(all, `${builtin}-dgram-2`);
      assert.equal(again.keys.get('builtin'), builtin);
      hasComment(again, new RegExp(`^# named ${builtin}-dgram-2: ${builtin}-dgram is taken by the service from /etc/xinetd.d/${builtin}:`), `${builtin}-dgram-2`);
    }
    for (const internal of ['servers', 'services']) {
      const s = section(all, internal);
      assert.ok(notConverted(s), `[${internal}] is written as comments`);
      hasComment(s, new RegExp(`^# not converted: xinetd's internal service '${internal}' has no superd builtin`), internal);
    }
    assert.match(r.stderr, /17 services: 0 enabled, 15 disabled, 2 not converted/);
  });

  test('/etc/xinetd.conf with -o: its includedir is followed, one file per xinetd file, superd check passes', async () => {
    const out = join(await freshDir(), 'services.d');
    const r = await convertCli('/etc/xinetd.conf', '-o', out);
    assert.equal(r.code, 0, r.stderr);
    const expected = (await readdir('/etc/xinetd.d')).filter((n) => !n.includes('.') && !n.endsWith('~')).map((n) => `${n}.conf`).sort();
    assert.deepEqual((await readdir(out)).sort(), expected);
    const checked = await checkDir(out);
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout, /^echo-stream \*:7\/tcp4 disabled builtin echo$/m);
  });
});

describe('a hand-written xinetd setup', { timeout: 120000 }, () => {
  /** The fixture converted, once, for the tests that read it (each may run alone). */
  const fixture = once(async (): Promise<{ text: string; all: Map<string, Section> }> => {
    const r = await convertCli(join(FIXTURE, 'xinetd.conf'));
    assert.equal(r.code, 0, r.stderr);
    return { text: r.stdout, all: sections(r.stdout) };
  });

  test('converts, and superd check passes the output as it is', { skip: CHECK_SKIP }, async () => {
    const { text } = await fixture();
    const checked = await checkFiles({ 'converted.conf': text });
    assert.equal(checked.code, 0, `superd check failed:\n${checked.stderr}\n--- converted:\n${text}`);
    // The enabled services, as check lists them.
    for (const line of [
      /^git \*:9418\/tcp nowait \/usr\/bin\/git daemon --inetd/m,
      // xinetd did not start it: /etc/services gives echo port 7, and its type has no UNLISTED.
      /^echo-stream \*:7007\/tcp4 disabled builtin echo$/m,
      /^echo-dgram \*:7007\/udp4 wait builtin echo$/m,
      /^rsync 127\.0\.0\.1:873\/tcp4 nowait \/usr\/bin\/rsync --daemon user=root\(0\)$/m,
    ]) assert.match(checked.stdout, line);
  });

  test('git: every mapped attribute, the defaults applied, the rest as comments', async () => {
    const { all } = await fixture();
    const git = section(all, 'git');
    const k = git.keys;
    assert.equal(k.get('protocol'), 'tcp', 'flags = IPv6: both families');
    assert.equal(k.get('port'), '9418');
    assert.equal(k.get('server'), '/usr/bin/git');
    // xinetd splits on blanks and knows no quotes: superd's splitter gets back the very same words.
    const args = splitWords(k.get('args') ?? '');
    assert.deepEqual(args.ok && args.value, ['daemon', '--inetd', '--export-all', '--base-path=/srv/git', '"--informative-errors"', "it's", '/srv/git']);
    assert.equal(k.get('wait'), 'no');
    assert.equal(k.get('user'), 'nobody');
    assert.equal(k.get('group'), 'nogroup');
    assert.equal(k.get('max_children'), '32', 'instances overrides the defaults');
    assert.equal(k.has('max_per_source'), false, 'per_source = UNLIMITED');
    assert.equal(k.get('rate'), '1500', 'cps = 25 30 from defaults: 25 a second');
    assert.equal(k.get('only_from'), '127.0.0.0/8 ::1 10.0.0.0/8 192.168.1.0/24 192.168.2.0/24 2001:db8::/32', 'defaults, then += with wildcards and factorized');
    assert.equal(k.get('no_access'), '10.1.2.3');
    assert.equal(k.get('env'), 'GIT_PROTOCOL_FROM_USER=0 HOME=/nonexistent');
    assert.equal(k.get('pass_env'), 'LANG PATH', 'defaults, then +=');
    assert.equal(k.get('nice'), '10');
    assert.equal(k.get('rlimit_as'), '64M');
    assert.equal(k.get('umask'), '002', 'from the defaults');
    assert.equal(k.has('disabled'), false);
    for (const c of [
      /^# xinetd: only_from … trusted\.example\.org — superd has no equivalent: superd does not resolve names/,
      /^# xinetd: log_on_success \+= HOST DURATION — superd has no equivalent: /,
      /^# xinetd: banner = \/etc\/issue\.net — superd has no equivalent: /,
      /^# xinetd: flags = NODELAY — superd has no equivalent: /,
      /^# xinetd: flags = REUSE — superd sets SO_REUSEADDR on every listener$/,
      /^# from the xinetd defaults at .*xinetd\.conf:3$/,
    ]) hasComment(git, c, 'git');
  });

  test('the defaults: what superd cannot express is said once, at the top', async () => {
    const { text } = await fixture();
    const head = text.split('\n\n')[0] ?? '';
    assert.match(head, /^# xinetd: log_type = SYSLOG daemon info \(defaults at .*\) — superd has no equivalent: /m);
    assert.doesNotMatch(head, /umask/, 'umask from the defaults is set in each service that runs a program');
    assert.match(head, /^# xinetd: cps = 25 30 — rate counts per minute, so 25 a second is 1500\. .*superd never turns it off/m);
  });

  test('tftp: udp wait, bind, cps, and what udp cannot have', async () => {
    const { all } = await fixture();
    const tftp = section(all, 'tftp');
    const k = tftp.keys;
    assert.equal(k.get('protocol'), 'udp4');
    assert.equal(k.get('port'), 'tftp');
    assert.equal(k.get('bind'), '127.0.0.1');
    assert.equal(k.get('wait'), 'yes');
    assert.equal(k.get('args'), '-s /srv/tftp');
    assert.equal(k.get('rate'), '6000');
    assert.equal(k.get('max_children'), '60', 'instances from the defaults');
    assert.equal(k.has('max_per_source'), false);
    assert.equal(k.get('only_from'), '10.1.2.3');
    assert.equal(k.get('no_access'), '10.0.0.0/8');
    hasComment(tftp, /^# xinetd: cps = 100 2 — rate counts per minute, so 100 a second is 6000\. Past it xinetd turned the whole service off for 2 s; superd never turns it off/, 'tftp');
    hasComment(tftp, /^# xinetd: per_source = 11 — superd has no equivalent: max_per_source counts connections, and udp has none$/, 'tftp');
    hasComment(tftp, /^# xinetd: only_from 10\.1\.2\.3 inside no_access 10\.0\.0\.0\/8 — .*superd no_access always wins/, 'tftp');
  });

  test('rsync: NAMEINARGS through tcpd is unwrapped, interface is bind', async () => {
    const { all } = await fixture();
    const rsync = section(all, 'rsync');
    assert.equal(rsync.keys.get('server'), '/usr/bin/rsync');
    assert.equal(rsync.keys.get('args'), '--daemon');
    assert.equal(rsync.keys.get('bind'), '127.0.0.1');
    assert.equal(rsync.keys.get('protocol'), 'tcp4');
    assert.equal(rsync.keys.get('port'), 'rsync');
    hasComment(rsync, /^# xinetd: server \/usr\/sbin\/tcpd \/usr\/bin\/rsync — tcpd is left out: superd runs the program itself, and applies tcpd.s hosts\.allow and hosts\.deny rules for rsync as only_from and no_access$/, 'rsync');
    hasComment(rsync, /^# xinetd: log_on_failure \+= USERID — superd has no equivalent/, 'rsync');
  });

  test('INTERNAL services are builtins by name, with their ids as names', async () => {
    const { all } = await fixture();
    const stream = section(all, 'echo-stream');
    assert.equal(stream.keys.get('builtin'), 'echo');
    assert.equal(stream.keys.get('max_per_source'), '10', 'per_source from the defaults');
    // Not UNLISTED, so xinetd wants the port /etc/services gives echo, and did not start it on 7007.
    assert.equal(stream.keys.get('disabled'), 'yes');
    hasComment(stream, /^# disabled: xinetd did not start it: Service echo expects port 7, not 7007 /, 'echo-stream');
    const dgram = section(all, 'echo-dgram');
    assert.equal(dgram.keys.get('builtin'), 'echo');
    assert.equal(dgram.keys.has('wait'), false, 'superd answers udp builtins itself');
    assert.equal(dgram.keys.has('user'), false);
  });

  test('services superd cannot serve are written as comments, with the reason', async () => {
    const { all } = await fixture();
    const expected: Record<string, RegExp> = {
      servers: /^# not converted: xinetd's internal service 'servers' has no superd builtin/,
      rstatd: /^# not converted: type = RPC: superd does not register services with the portmapper/,
      webproxy: /^# not converted: redirect = 10\.0\.0\.5 80: superd does not forward connections/,
      ghost: /^# not converted: superd check would refuse it here: user must be a user name the system knows/,
    };
    for (const [name, reason] of Object.entries(expected)) {
      const s = section(all, name);
      assert.ok(notConverted(s), `[${name}] is comments only`);
      hasComment(s, reason, name);
    }
    hasComment(section(all, 'ghost'), /^# user = no-such-user-here$/, 'ghost');
  });

  test('services that convert but must not run as they are: disabled, with the reason', async () => {
    const { all } = await fixture();
    const expected: Record<string, RegExp> = {
      retired: /^# disabled: listed in disabled of the xinetd defaults at /,
      hostsonly: /^# disabled: only_from names only hosts, which superd does not resolve: without it everyone would be let in$/,
      nobody: /^# disabled: only_from is empty: xinetd let nobody in$/,
      waiting: /^# disabled: its only_from\/no_access cannot be applied to a tcp wait service$/,
      office: /^# disabled: access_times: superd would serve it at all hours$/,
      missing: /^# disabled: server '\/usr\/sbin\/in\.no-such-program' does not exist on this host/,
      nowaitudp: /^# disabled: the program was a nowait udp server/,
      gitagain: /^# disabled: its listen address \*:9418\/tcp4 is taken by \[git\] \(\*:9418\/tcp\) from .*xinetd\.d\/git:2$/,
      nouser: /^# disabled: it has no user, which xinetd requires of a program service/,
    };
    for (const [name, reason] of Object.entries(expected)) {
      const s = section(all, name);
      assert.equal(s.keys.get('disabled'), 'yes', `[${name}] is disabled`);
      hasComment(s, reason, name);
      // One reason each: the fixture gives every other service what it needs.
      assert.equal(s.comments.filter((c) => c.startsWith('# disabled: ')).length, 1, `[${name}]: ${s.comments.join('\n')}`);
    }
    assert.equal(section(all, 'hostsonly').keys.has('only_from'), false);
    assert.equal(section(all, 'waiting').keys.get('wait'), 'yes');
    assert.equal(section(all, 'nowaitudp').keys.get('wait'), 'yes');
  });

  test('with -o: one file per xinetd file that defines services; superd check passes the directory', { skip: CHECK_SKIP }, async () => {
    const out = join(await freshDir(), 'services.d');
    const r = await convertCli(join(FIXTURE, 'xinetd.conf'), '-o', out);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(out)).sort(), ['disabled.conf', 'git.conf', 'internal.conf', 'rsync.conf', 'tftp.conf', 'unservable.conf', 'zconflict.conf']);
    assert.match(r.stderr, /wrote .*\/git\.conf from .*\/xinetd\.d\/git: 1 service: 1 enabled, 0 disabled, 0 not converted/);
    const checked = await checkDir(out);
    assert.equal(checked.code, 0, checked.stderr);
    // Each file names its source and carries its comments.
    const git = await readFile(join(out, 'git.conf'), 'utf8');
    assert.match(git, /^# Converted by `superd convert` from .*\/xinetd\.d\/git \(xinetd syntax\)\.$/m);
    assert.match(git, /^# git daemon, over IPv4 and IPv6$/m);
  });

  test("hosts.allow and hosts.deny rules for a service that ran under tcpd become its only_from", async () => {
    const host = { passwd: { users: [{ name: 'root', uid: 0, gid: 0 }], groups: [{ name: 'root', gid: 0 }] }, ports: new Map([['rsync/tcp', 873]]), checkProgram: async () => null };
    const dir = await freshDir();
    await writeFile(join(dir, 'hosts.allow'), 'rsync: 192.168.1.0/255.255.255.0 [2001:db8::]/32\n');
    await writeFile(join(dir, 'hosts.deny'), 'ALL: ALL\n');
    const r = await convert(join(FIXTURE, 'xinetd.d', 'rsync'), { host, hostsAllow: join(dir, 'hosts.allow'), hostsDeny: join(dir, 'hosts.deny') });
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    const rsync = section(sections(r.value.combined), 'rsync');
    assert.equal(rsync.keys.get('disabled'), undefined);
    assert.equal(rsync.keys.get('server'), '/usr/bin/rsync');
    assert.equal(rsync.keys.get('only_from'), '192.168.1.0/24 2001:db8::/32');
    hasComment(rsync, /hosts\.allow\/hosts\.deny for rsync \(.*hosts\.allow:1, .*hosts\.deny:1\) — applied here/, 'rsync');
    assert.match(r.value.combined, /^# Rules of .*hosts\.allow and .*hosts\.deny, which tcpd and xinetd's libwrap applied,$/m);
  });
});

describe('xinetd process attributes -> nice, umask, groups, rlimit_*', { timeout: 120000 }, () => {
  const PROGRAM = '\tsocket_type = stream\n\tprotocol = tcp\n\twait = no\n\tuser = nobody\n\tserver = /bin/cat\n\ttype = UNLISTED\n';
  const XINETD = `service proc
{
${PROGRAM}\tport        = 7101
\tnice        = 25
\tumask       = 27
\tgroups      = yes
\trlimit_as   = 1000000
\trlimit_cpu  = 30
\trlimit_data = 8m
\trlimit_stack = UNLIMITED
\trlimit_files = 256
\trlimit_rss  = 10M
}

service proc2
{
${PROGRAM}\tport        = 7102
\tgroups      = no
\trlimit_files = UNLIMITED
}
`;
  const converted = once(async (): Promise<string> => {
    const file = join(await freshDir(), 'proc');
    await writeFile(file, XINETD);
    const r = await convertCli(file);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  });

  test('each attribute becomes its key, with a comment where the value changed', async () => {
    const all = sections(await converted());
    const proc = section(all, 'proc');
    const settings = (s: Section): Record<string, string> => Object.fromEntries([...s.keys].filter(([key]) => /^(nice|umask|groups|rlimit_\w+)$/.test(key)));
    // rlimit_files is rlimit_nofile; rlimit_rss has no key.
    assert.deepEqual(settings(proc), {
      nice: '19', umask: '027', groups: 'yes', rlimit_as: '1000000', rlimit_cpu: '30', rlimit_data: '8M', rlimit_stack: 'unlimited', rlimit_nofile: '256',
    });
    hasComment(proc, /^# xinetd: nice = 25 — nice values run from -20 to 19, and the kernel made it 19$/, 'proc');
    assert.ok(!proc.comments.some((c) => /^# xinetd: rlimit_as/.test(c)), 'rlimit_as is taken to the byte, without a comment');
    hasComment(proc, /^# xinetd: rlimit_rss = 10M — superd has no equivalent: Linux has not enforced RLIMIT_RSS since 2\.6/, 'proc');
    const proc2 = section(all, 'proc2');
    assert.deepEqual(settings(proc2), {}, 'groups = no is the default; no unlimited rlimit_nofile');
    hasComment(proc2, /^# xinetd: rlimit_files = UNLIMITED — superd has no equivalent: no process may have an unlimited number of open files/, 'proc2');
  });

  test('superd check takes the output as it is', { skip: CHECK_SKIP }, async () => {
    const text = await converted();
    const checked = await checkFiles({ 'proc.conf': text });
    assert.equal(checked.code, 0, `superd check failed:\n${checked.stderr}\n--- converted:\n${text}`);
  });
});
