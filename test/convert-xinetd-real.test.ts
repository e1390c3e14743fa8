// `superd convert` on xinetd files shaped like the ones operators have most
// (check_mk's agent, nrpe, Percona's mysqlchk, a RHEL tftp, Debian's own
// /etc/xinetd.d), and one file per thing xinetd 2.3.15 does that a reader of
// xinetd.conf(5) would not guess (test/fixtures/convert/xinetd-real/items):
// what the real xinetd did with each was observed, and the conversion must
// never let in an (address, source) pair xinetd would not have. Every
// service's keys are asserted whole: services, ports, protocol, addresses,
// access lists, and why one is disabled or not converted. The host (users,
// /etc/services, programs) is given, and no hosts.allow or hosts.deny is
// read, so nothing here depends on /etc.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanIni } from '../src/config/scan.js';
import { convert, type Conversion } from '../src/convert/convert.js';
import type { HostFiles } from '../src/convert/fit.js';
import { ROOT, runSuperd, scratchDirs, type CliResult } from './helpers/daemon.js';
import { notRoot } from './helpers/proc.js';

/** What convert writes names users (user = nobody, root): `superd check` refuses that unless it runs as root. */
const CHECK_SKIP = notRoot('superd check accepts user = … only when it runs as root');

const REAL = join(ROOT, 'test', 'fixtures', 'convert', 'xinetd-real');
const ITEMS = join(REAL, 'items');
const NO_WRAPPERS = { hostsAllow: '/nonexistent/hosts.allow', hostsDeny: '/nonexistent/hosts.deny' };

const PORTS: [string, number][] = [
  ['echo/tcp', 7], ['echo/udp', 7], ['discard/tcp', 9], ['discard/udp', 9], ['daytime/tcp', 13], ['daytime/udp', 13],
  ['chargen/tcp', 19], ['chargen/udp', 19], ['ftp/tcp', 21], ['time/tcp', 37], ['time/udp', 37], ['tftp/udp', 69],
  ['rsync/tcp', 873], ['nrpe/tcp', 5666],
];

function hostWith(ports: [string, number][] = PORTS): HostFiles {
  return {
    passwd: {
      users: [{ name: 'root', uid: 0, gid: 0 }, { name: 'nobody', uid: 65534, gid: 65534 }, { name: 'nagios', uid: 112, gid: 120 }],
      groups: [{ name: 'root', gid: 0 }, { name: 'nogroup', gid: 65534 }, { name: 'nagios', gid: 120 }],
    },
    ports: new Map(ports),
    checkProgram: async () => null,
  };
}

const scratch = scratchDirs('superd-convert-real-');

interface Section {
  keys: Record<string, string>;
  /** The comment lines of the section's block, from the line naming the source to the next block. */
  comments: string[];
  /** Commented out: `# not converted: …`. */
  notConverted: boolean;
}

/** The sections of a converted text, commented-out ones too, by name. */
function sections(text: string): Map<string, Section> {
  const out = new Map<string, Section>();
  for (const s of scanIni('converted', text).sections) {
    out.set(s.name, { keys: Object.fromEntries(s.entries.map((e) => [e.key, e.value])), comments: [], notConverted: false });
  }
  for (const block of text.split(/\n\n/)) {
    const header = /^# \[([A-Za-z0-9_-]+)\]$/m.exec(block) ?? /^\[([A-Za-z0-9_-]+)\]$/m.exec(block);
    if (header === null) continue;
    const name = header[1] as string;
    const entry = out.get(name) ?? { keys: {}, comments: [], notConverted: false };
    entry.comments = block.split('\n').filter((l) => l.startsWith('#'));
    entry.notConverted = entry.comments.some((c) => c.startsWith('# not converted: '));
    out.set(name, entry);
  }
  return out;
}

async function converted(source: string, host = hostWith()): Promise<{ c: Conversion; all: Map<string, Section> }> {
  const r = await convert(source, { host, ...NO_WRAPPERS });
  assert.ok(r.ok, r.ok ? '' : `${r.error.file}:${r.error.line}: ${r.error.message}`);
  return { c: r.value, all: sections(r.value.combined) };
}

function section(all: Map<string, Section>, name: string): Section {
  const s = all.get(name);
  assert.ok(s !== undefined, `no [${name}] in the output; sections: ${[...all.keys()].join(' ')}`);
  return s;
}

function hasComment(s: Section, pattern: RegExp, what: string): void {
  assert.ok(s.comments.some((c) => pattern.test(c)), `[${what}] has no comment matching ${pattern}; comments:\n${s.comments.join('\n')}`);
}

/** The `# disabled:` reasons, without the prefix. */
const reasons = (s: Section): string[] => s.comments.filter((c) => c.startsWith('# disabled: ')).map((c) => c.slice('# disabled: '.length));

/** A service written as a section, enabled, with exactly these keys. */
function enabled(all: Map<string, Section>, name: string, keys: Record<string, string>): Section {
  const s = section(all, name);
  assert.equal(s.notConverted, false, `[${name}] is a section`);
  assert.deepEqual(s.keys, keys, `[${name}]`);
  assert.deepEqual(reasons(s), [], `[${name}] has no reason to be disabled`);
  return s;
}

/** A service written as a section, disabled for exactly these reasons (patterns, in order), with these keys besides `disabled`. */
function disabled(all: Map<string, Section>, name: string, keys: Record<string, string>, why: RegExp[]): Section {
  const s = section(all, name);
  assert.equal(s.notConverted, false, `[${name}] is a section`);
  assert.deepEqual(s.keys, { ...keys, disabled: 'yes' }, `[${name}]`);
  const got = reasons(s);
  assert.equal(got.length, why.length, `[${name}] reasons:\n${got.join('\n')}`);
  for (const [i, w] of why.entries()) assert.match(got[i] as string, w, `[${name}] reason ${i + 1}`);
  return s;
}

/** A service written as comments only, for this reason. */
function notConverted(all: Map<string, Section>, name: string, why: RegExp): Section {
  const s = section(all, name);
  assert.equal(s.notConverted, true, `[${name}] is comments only`);
  assert.deepEqual(s.keys, {}, `[${name}] has no live key`);
  hasComment(s, why, name);
  return s;
}

describe('the xinetd files operators have most', { timeout: 60000 }, () => {
  test("check_mk's agent: UNLISTED on 6556, only its monitoring servers, quiet logging", async () => {
    const { all } = await converted(join(REAL, 'xinetd.d', 'check_mk'));
    assert.deepEqual([...all.keys()], ['check_mk']);
    const s = enabled(all, 'check_mk', {
      protocol: 'tcp4', port: '6556', server: '/usr/bin/check_mk_agent', wait: 'no', user: 'root', only_from: '127.0.0.1 10.0.20.1 10.0.20.2',
    });
    hasComment(s, /^# xinetd: log_on_success = — superd has no equivalent: superd logs every handler it starts/, 'check_mk');
    hasComment(s, /^# xinetd: type = UNLISTED — superd needs no \/etc\/services entry for a numeric port$/, 'check_mk');
    // The author's own comments stay, the commented-out server among them.
    hasComment(s, /^#server {9}= \/usr\/bin\/check_mk_caching_agent$/, 'check_mk');
  });

  test('nrpe: REUSE, nagios:nagios, its arguments, localhost over both families; its port from /etc/services', async () => {
    const { all } = await converted(join(REAL, 'xinetd.d', 'nrpe'));
    assert.deepEqual([...all.keys()], ['nrpe']);
    const s = enabled(all, 'nrpe', {
      protocol: 'tcp4', port: '5666', server: '/usr/sbin/nrpe', args: '-c /etc/nagios/nrpe.cfg --inetd', wait: 'no', user: 'nagios', group: 'nagios',
      only_from: '127.0.0.1 ::1',
    });
    hasComment(s, /^# xinetd: flags = REUSE — superd sets SO_REUSEADDR on every listener$/, 'nrpe');
    hasComment(s, /^# xinetd: log_on_failure \+= USERID — superd has no equivalent: /, 'nrpe');
  });

  test('nrpe on a host whose /etc/services does not name it: xinetd did not start it', async () => {
    const { all } = await converted(join(REAL, 'xinetd.d', 'nrpe'), hostWith(PORTS.filter(([k]) => k !== 'nrpe/tcp')));
    disabled(all, 'nrpe', {
      protocol: 'tcp4', port: '5666', server: '/usr/sbin/nrpe', args: '-c /etc/nagios/nrpe.cfg --inetd', wait: 'no', user: 'nagios', group: 'nagios',
      only_from: '127.0.0.1 ::1',
    }, [/^xinetd did not start it: service\/protocol combination not in \/etc\/services: nrpe\/tcp \(/]);
  });

  test("Percona's mysqlchk: REUSE, UNLISTED on 9200, 10/8 and localhost, no per-source limit", async () => {
    const { all } = await converted(join(REAL, 'xinetd.d', 'mysqlchk'));
    const s = enabled(all, 'mysqlchk', {
      protocol: 'tcp4', port: '9200', server: '/usr/bin/clustercheck', wait: 'no', user: 'nobody', only_from: '10.0.0.0/8 127.0.0.1',
    });
    hasComment(s, /^# xinetd: flags = REUSE — superd sets SO_REUSEADDR on every listener$/, 'mysqlchk');
    hasComment(s, /^# xinetd: type = UNLISTED — /, 'mysqlchk');
    hasComment(s, /^# xinetd: log_on_failure \+= USERID — /, 'mysqlchk');
    hasComment(s, /^# this is a config for xinetd, place it in \/etc\/xinetd\.d\/$/, 'mysqlchk');
  });

  test('a RHEL tftp: udp wait, IPv4, its arguments and rate; disabled as it was', async () => {
    const { all } = await converted(join(REAL, 'xinetd.d', 'tftp'));
    const s = disabled(all, 'tftp', {
      protocol: 'udp4', port: 'tftp', server: '/usr/sbin/in.tftpd', args: '-s /var/lib/tftpboot', wait: 'yes', user: 'root', rate: '6000',
    }, [/^disable = yes in xinetd$/]);
    hasComment(s, /^# xinetd: per_source = 11 — superd has no equivalent: max_per_source counts connections, and udp has none$/, 'tftp');
    hasComment(s, /^# xinetd: cps = 100 2 — rate counts per minute, so 100 a second is 6000\. Past it xinetd turned the whole service off for 2 s/, 'tftp');
  });

  test("Debian's own /etc/xinetd.d: the five internal services, stream and dgram, disabled as shipped", async () => {
    const { c, all } = await converted(join(REAL, 'debian'));
    const builtins = ['chargen', 'daytime', 'discard', 'echo', 'time'];
    assert.deepEqual([...all.keys()].sort(), [...builtins.flatMap((b) => [`${b}-stream`, `${b}-dgram`]), 'echo-dgram-2', 'servers'].sort());
    for (const b of builtins) {
      const stream = disabled(all, `${b}-stream`, { protocol: 'tcp4', port: b, builtin: b }, [/^disable = yes in xinetd$/]);
      hasComment(stream, /^# xinetd: user = root — superd has no equivalent: builtins run inside superd, no program is started$/, `${b}-stream`);
      disabled(all, `${b}-dgram`, { protocol: 'udp4', port: b, builtin: b }, [/^disable = yes in xinetd$/]);
    }
    // echo-udp's echo-dgram again, UNLISTED on port 7.
    const again = disabled(all, 'echo-dgram-2', { protocol: 'udp4', port: '7', builtin: 'echo' }, [/^disable = yes in xinetd$/]);
    hasComment(again, /^# named echo-dgram-2: echo-dgram is taken by the service from .*\/debian\/echo:/, 'echo-dgram-2');
    notConverted(all, 'servers', /^# not converted: xinetd's internal service 'servers' has no superd builtin/);
    assert.deepEqual(c.notes, []);
  });
});

describe('what xinetd 2.3.15 does, item by item', { timeout: 60000 }, () => {
  const cat = (port: number, user = 'nobody'): Record<string, string> => ({ protocol: 'tcp4', port: String(port), server: '/bin/cat', wait: 'no', user });

  test('1: each `=` of a set clears it, `+=` adds, `-=` removes the same address however written; defaults add', async () => {
    const { all } = await converted(join(ITEMS, '1-lists'));
    // Not everyone: xinetd let in 10.0.0.0/8 only.
    const repeated = enabled(all, 'repeated', { ...cat(7101), only_from: '10.0.0.0/8', no_access: '10.9.9.9' });
    assert.equal(repeated.keys.only_from, '10.0.0.0/8');
    hasComment(repeated, /^# from the xinetd defaults at .*1-lists:3$/, 'repeated');
    enabled(all, 'appended', { ...cat(7102), only_from: '127.0.0.2 127.0.0.3', no_access: '10.9.9.9' });
    enabled(all, 'refused', { ...cat(7103), only_from: '10.0.0.0/8 192.168.0.0/16', no_access: '127.0.0.3' });
    enabled(all, 'removed', { ...cat(7104), only_from: '192.168.0.0/16 172.16.0.0/12', no_access: '10.9.9.9' });
    enabled(all, 'inherited', { ...cat(7105), only_from: '10.0.0.0/8 192.168.0.0/16', no_access: '10.9.9.9' });
  });

  test('2: a fixed attribute set again is ignored, the first one counts; interface is bind', async () => {
    const { all } = await converted(join(ITEMS, '2-twice'));
    const s = enabled(all, 'twice', { protocol: 'tcp4', port: '7201', bind: '127.0.0.1', server: '/bin/cat', wait: 'no', user: 'nobody' });
    hasComment(s, /^# xinetd: user = root \(line 9\) — ignored, as xinetd ignores an attribute set again: the one at line 8 counts$/, 'twice');
    hasComment(s, /^# xinetd: port = 7299 \(line 12\) — ignored, as xinetd ignores an attribute set again: the one at line 11 counts$/, 'twice');
    hasComment(s, /^# xinetd: interface = 0\.0\.0\.0 \(line 14\) — ignored, as xinetd ignores an attribute set again: the one at line 13 counts$/, 'twice');
  });

  test('3: a trailing comment: a limit is dropped with a comment, what restricts access disables the service', async () => {
    const { all } = await converted(join(ITEMS, '3-comments'));
    const limits = enabled(all, 'limits', cat(7301));
    hasComment(limits, /^# xinetd: per_source = 10 # max \(line 11\) — ignored, as xinetd ignores it \("attribute per_source expects 1 values and 3 values were specified"\): '# max' looks like a comment, and xinetd knows no comment after a value$/, 'limits');
    hasComment(limits, /^# xinetd: instances = 50 # at most \(line 12\) — ignored, /, 'limits');
    hasComment(limits, /^# xinetd: cps = 25 30 # a second \(line 13\) — ignored, as xinetd ignores it \("attribute cps expects 2 values and 5 values were specified"\)/, 'limits');

    // xinetd served it; this conversion does not.
    const off = disabled(all, 'offcomment', cat(7302), [/^xinetd ignored disable = yes # off until monday \(line 25: disable takes 1 value\) and served the service without it, which lets in more than that line asked for$/]);
    hasComment(off, /^# xinetd: disable = yes # off until monday \(line 25\) — ignored, /, 'offcomment');
    // xinetd listened on every address: no bind, and disabled.
    disabled(all, 'bindcomment', cat(7303), [/^xinetd ignored bind = 127\.0\.0\.1 # loopback only \(line 37: bind takes 1 value\)/]);
    // Ignoring `disable = no # on` loses nothing.
    hasComment(enabled(all, 'oncomment', cat(7304)), /^# xinetd: disable = no # on \(line 49\) — ignored, /, 'oncomment');

    // The words after '#' are host names to xinetd, which did not resolve: only_from keeps the rest, as xinetd did.
    const hosts = disabled(all, 'hosts', { ...cat(7305), only_from: '10.0.0.0/8', no_access: '10.1.0.0/16' },
      [/^no_access has words after a '#' \(# lab\) that xinetd took for host names, refusing any that resolved; superd does not resolve names/]);
    hasComment(hosts, /^# xinetd: only_from … # office — superd has no equivalent: these words follow a '#' and look like a trailing comment, but xinetd knows no comment after a value: it read them as host names/, 'hosts');
    hasComment(hosts, /^# xinetd: no_access … # lab — superd has no equivalent: these words follow a '#' and look like a trailing comment/, 'hosts');

    // The program got every word.
    const args = enabled(all, 'argscomment', { protocol: 'tcp4', port: '7306', server: '/bin/cat', args: "-u '#' comment", wait: 'no', user: 'nobody' });
    hasComment(args, /^# xinetd: server_args = -u # comment — xinetd passed every word to the program, '# comment' too/, 'argscomment');

    disabled(all, 'flagcomment', cat(7307), [/^xinetd did not start it: Bad service flag: # \(line 86: flags = IPv6 # both families\)$/]);
    disabled(all, 'timecomment', cat(7308), [/^xinetd did not start it: incorrect time interval \(line 98: access_times = 08:00-18:00 # office hours\)$/]);
  });

  test('4: values xinetd refuses, attributes it does not know; the other services convert', async () => {
    const { all } = await converted(join(ITEMS, '4-refused'));
    notConverted(all, 'badwait', /^# not converted: xinetd did not start it: Bad value for wait: perhaps \(line 6: wait = perhaps\)$/);
    disabled(all, 'manyinstances', cat(7402), [/^xinetd did not start it: Number of instances is invalid: many \(line 20: instances = many\)$/]);
    notConverted(all, 'nowait', /^# not converted: xinetd did not start it: Service nowait missing attribute wait$/);
    const plus = notConverted(all, 'plusserver', /^# not converted: xinetd did not start it: Must specify a server in plusserver$/);
    hasComment(plus, /^# xinetd: server \+= \/bin\/cat \(line 38\) — ignored, as xinetd ignores it \("operator '\+=' cannot be used for attribute 'server'"\)$/, 'plusserver');
    // Served by xinetd without a limit, and so here.
    hasComment(enabled(all, 'typo', cat(7405)), /^# xinetd: instnaces = 4 \(line 51\) — ignored, as xinetd ignores an attribute it does not know \("bad service attribute: instnaces"\) \(did you mean 'instances'\?\)$/, 'typo');
    // xinetd let everyone in; the author meant only_from.
    const access = disabled(all, 'accesstypo', cat(7406), [/^line 63: 'only_form' is not an xinetd attribute, and xinetd ignored it; if 'only_from' was meant, it would have restricted the service$/]);
    hasComment(access, /^# xinetd: only_form = 10\.0\.0\.1 \(line 63\) — ignored, .*\(did you mean 'only_from'\?\)$/, 'accesstypo');
    enabled(all, 'fine', cat(7407));
  });

  test('5: an include or includedir that cannot be read is skipped, with a note, as xinetd skips it', async () => {
    const file = join(ITEMS, '5-include');
    const { c, all } = await converted(file);
    const expected = [
      `${file}:2: includedir /nonexistent/superd-convert-test/xinetd.d skipped: cannot read directory '/nonexistent/superd-convert-test/xinetd.d': no such file or directory; xinetd skips what it cannot read and serves the rest`,
      `${file}:3: include /nonexistent/superd-convert-test/extra skipped: cannot read '/nonexistent/superd-convert-test/extra': no such file or directory; xinetd skips what it cannot read and serves the rest`,
    ];
    assert.deepEqual(c.notes, expected);
    const head = c.combined.split('\n\n')[0] ?? '';
    for (const note of expected) assert.ok(head.split('\n').includes(`# xinetd: ${note}`), `the note heads the output:\n${head}`);
    assert.deepEqual(c.files.map((f) => f.source), [join(ITEMS, '5-part')]);
    enabled(all, 'included', cat(7501));
  });

  test('6: without UNLISTED, only a name /etc/services knows, and only on its port', async () => {
    const { all } = await converted(join(ITEMS, '6-listed'));
    disabled(all, 'ftp', { ...cat(2121, 'root'), server: '/usr/sbin/in.ftpd' },
      [/^xinetd did not start it: Service ftp expects port 21, not 2121 \(the port \/etc\/services gives ftp; with type = UNLISTED a service may take another\)$/]);
    disabled(all, 'notinetc', cat(7601), [/^xinetd did not start it: service\/protocol combination not in \/etc\/services: notinetc\/tcp \(xinetd looks a service up there by its name unless its type has UNLISTED\)$/]);
    notConverted(all, 'notinetcnoport', /^# not converted: xinetd did not start it: Port not specified and can't find service: notinetcnoport with getservbyname/);
    enabled(all, 'tftp', { protocol: 'udp4', port: 'tftp', server: '/usr/sbin/in.tftpd', args: '-s /srv/tftp', wait: 'yes', user: 'root' });
    enabled(all, 'rsync', { protocol: 'tcp4', port: '873', server: '/usr/bin/rsync', args: '--daemon', wait: 'no', user: 'root' });
  });

  test("7: a comma in only_from or no_access: xinetd disabled the service; the author's entries are kept for when it is fixed", async () => {
    const { all } = await converted(join(ITEMS, '7-comma'));
    disabled(all, 'comma', { ...cat(7701), only_from: '10.0.0.1 10.0.0.2' },
      [/^xinetd did not start it: Address: 10\.0\.0\.1,10\.0\.0\.2 has a comma in it - remove the comma \(line 10: only_from = 10\.0\.0\.1,10\.0\.0\.2\)$/]);
    disabled(all, 'nocomma', { ...cat(7702), no_access: '10.0.0.1 10.0.0.2' }, [/^xinetd did not start it: Address: 10\.0\.0\.1,10\.0\.0\.2 has a comma in it/]);
    enabled(all, 'factorized', { ...cat(7703), only_from: '10.0.1.0/24 10.0.2.0/24' });
  });

  test('8: REUSE, NOLIBWRAP and UNLISTED are said; += and -= are shown as written', async () => {
    const { all } = await converted(join(ITEMS, '8-said'));
    const s = enabled(all, 'said', cat(7801));
    for (const c of [
      /^# xinetd: flags = REUSE — superd sets SO_REUSEADDR on every listener$/,
      /^# xinetd: flags = NOLIBWRAP — superd reads no hosts\.allow or hosts\.deny itself, and none of their rules are applied to this service$/,
      /^# xinetd: type = UNLISTED — superd needs no \/etc\/services entry for a numeric port$/,
      /^# xinetd: log_on_success \+= HOST DURATION — superd has no equivalent: /,
      /^# xinetd: log_on_failure -= HOST — superd has no equivalent: /,
      /^# xinetd: log_on_failure \+= USERID — superd has no equivalent: /,
    ]) hasComment(s, c, 'said');
  });

  test('9: a flag or type xinetd does not know disables the service; names and keywords are compared without case', async () => {
    const { all } = await converted(join(ITEMS, '9-flags'));
    disabled(all, 'badflag', cat(7901), [/^xinetd did not start it: Bad service flag: FASTOPEN \(line 11: flags = REUSE FASTOPEN\)$/]);
    disabled(all, 'badtype', cat(7902), [/^xinetd did not start it: Bad service type: BOGUS \(line 16: type = UNLISTED BOGUS\)$/]);
    disabled(all, 'disableflag', cat(7903), [/^xinetd did not start it: Bad service flag: DISABLE \(line 33: flags = DISABLE\)$/]);
    // `Type = unlisted` and `flags = ipv6` are what xinetd reads as type = UNLISTED and flags = IPv6.
    const lower = enabled(all, 'lowercase', { ...cat(7904), protocol: 'tcp' });
    hasComment(lower, /^# xinetd: type = UNLISTED — /, 'lowercase');
  });
});

describe('through the CLI: the output passes superd check', { timeout: 120000 }, () => {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', SUPERD_HOSTS_ALLOW: '/nonexistent/hosts.allow', SUPERD_HOSTS_DENY: '/nonexistent/hosts.deny' };

  async function cli(args: string[]): Promise<CliResult> {
    const r = await runSuperd(args, { timeoutMs: 30000, env });
    assert.equal(r.timedOut, false, `superd ${args[0] ?? ''} finished by itself`);
    return r;
  }

  async function freshDir(): Promise<string> {
    const d = await scratch();
    return d;
  }

  test('the operators\' files with -o: one .conf each, superd check passes the directory', { skip: CHECK_SKIP }, async () => {
    const out = join(await freshDir(), 'services.d');
    const r = await cli(['convert', join(REAL, 'xinetd.d'), '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(out)).sort(), ['check_mk.conf', 'mysqlchk.conf', 'nrpe.conf', 'tftp.conf']);
    const checked = await cli(['check', '-d', out]);
    assert.equal(checked.code, 0, `superd check failed:\n${checked.stderr}`);
    // Whatever this host lacks (a program, the nagios user), nothing is wider than the file said.
    const all = sections(await readFile(join(out, 'check_mk.conf'), 'utf8'));
    assert.equal(section(all, 'check_mk').keys.only_from, '127.0.0.1 10.0.20.1 10.0.20.2');
  });

  test('every item file, and the skipped include on stderr: superd check passes what is written', { skip: CHECK_SKIP }, async () => {
    const out = join(await freshDir(), 'services.d');
    await mkdir(out, { mode: 0o755 });
    const names = (await readdir(ITEMS)).filter((n) => n !== '5-part').sort();
    for (const name of names) {
      const r = await cli(['convert', join(ITEMS, name), '-o', join(out, name)]);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      if (name === '5-include') {
        assert.match(r.stderr, /^superd convert: note: .*5-include:2: includedir \/nonexistent\/superd-convert-test\/xinetd\.d skipped: /m);
        assert.match(r.stderr, /^superd convert: note: .*5-include:3: include \/nonexistent\/superd-convert-test\/extra skipped: /m);
      }
      const checked = await cli(['check', '-d', join(out, name)]);
      assert.equal(checked.code, 0, `${name}: superd check failed:\n${checked.stderr}`);
    }
  });
});
