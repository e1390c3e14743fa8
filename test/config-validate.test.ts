import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ConfigError } from '../src/errors.js';
import type { ServiceDefinition } from '../src/config/types.js';
import { scanIni } from '../src/config/scan.js';
import { editDistance, unknownKeyMessage } from '../src/config/suggest.js';
import { loadPortDb, loadUserDb, parseGroup, parsePasswd, parseServices } from '../src/config/systemdb.js';
import { checkProgram } from '../src/config/program.js';
import { parseSection, validateSection, type ValidateContext } from '../src/config/validate.js';
import { definition, systemDatabases } from './helpers/config.js';

const FILE = '/etc/superd/services.d/svc.conf';

const CTX = systemDatabases(
  [['root', 0, 0], ['daemon', 1, 1], ['git', 1001, 1001]],
  [['root', 0], ['daemon', 1], ['git', 1001], ['staff', 50]],
  'git 9418/tcp\nhttp-alt 8080/tcp webcache\ntftp 69/udp\necho 7/tcp\necho 7/udp\n',
);

/** The body goes under `[svc]` on line 1, so its first line is line 2. */
function scanned(body: string) {
  const r = scanIni(FILE, `[svc]\n${body}`);
  assert.deepEqual(r.errors, []);
  return r.sections[0] as NonNullable<(typeof r.sections)[0]>;
}

/** SPEC validation only (no "not supported yet"), expecting success. */
function parse(body: string, ctx: ValidateContext = CTX): ServiceDefinition {
  const r = parseSection(FILE, scanned(body), ctx);
  assert.deepEqual(r.errors, [], body);
  assert.ok(r.definition !== null);
  return r.definition;
}

const TCP = 'port = 9418\nserver = /usr/bin/git\n';

/** Expects exactly one error, on `line`, whose message contains `text`. */
function parseError(body: string, line: number, code: string, text: string, ctx: ValidateContext = CTX): ConfigError {
  const r = parseSection(FILE, scanned(body), ctx);
  assert.equal(r.definition, null, body);
  assert.equal(r.errors.length, 1, `${body}\n${JSON.stringify(r.errors, null, 1)}`);
  const e = r.errors[0] as ConfigError;
  assert.equal(e.file, FILE);
  assert.equal(e.service, 'svc');
  assert.equal(e.line, line, e.message);
  assert.equal(e.code, code, e.message);
  assert.ok(e.message.includes(text), `'${e.message}' should include '${text}'`);
  return e;
}

test('the smallest tcp service gets every default of SPEC §2', () => {
  const d = parse(TCP);
  assert.deepEqual(d, definition({ name: 'svc', origin: { file: FILE, line: 1 }, port: 9418, handler: { kind: 'server', program: '/usr/bin/git', argv: ['git'] } }));
});

// --- protocol ------------------------------------------------------------

test('protocol: every value of SPEC §2, case-insensitive', () => {
  for (const p of ['tcp', 'tcp4', 'tcp6'] as const) assert.equal(parse(`protocol = ${p}\n${TCP}`).protocol, p);
  for (const p of ['udp', 'udp4', 'udp6'] as const) {
    assert.equal(parse(`protocol = ${p}\nport = 69\nserver = /x`).protocol, p);
  }
  assert.equal(parse('protocol = unix\npath = /run/x.sock\nserver = /x').protocol, 'unix');
  assert.equal(parse(`protocol = TCP\n${TCP}`).protocol, 'tcp');
});

test('protocol: anything else is an error listing the choices', () => {
  parseError(`protocol = sctp\n${TCP}`, 2, 'bad_value', "protocol must be one of tcp, tcp4, tcp6, udp, udp4, udp6, unix, got 'sctp'");
});

// --- port ----------------------------------------------------------------

test('port: a number or a name from /etc/services for the protocol family', () => {
  assert.equal(parse('port = 1\nserver = /x').port, 1);
  assert.equal(parse('port = 65535\nserver = /x').port, 65535);
  assert.equal(parse('port = git\nserver = /x').port, 9418);
  assert.equal(parse('port = webcache\nserver = /x').port, 8080); // alias
  assert.equal(parse('protocol = tcp6\nport = git\nserver = /x').port, 9418);
  assert.equal(parse('protocol = udp4\nport = tftp\nserver = /x').port, 69);
  assert.equal(parse('port = "9418"\nserver = /x').port, 9418); // INI quotes
});

test('port: out of range, unknown names and the wrong family are errors', () => {
  parseError('port = 0\nserver = /x', 2, 'bad_value', "port must be 1-65535 or a service name from /etc/services, got '0'");
  parseError('port = 65536\nserver = /x', 2, 'bad_value', "got '65536'");
  parseError('port = -1\nserver = /x', 2, 'bad_value', "got '-1'");
  const e = parseError('port = http-altt\nserver = /x', 2, 'bad_value',
    "port must be 1-65535 or a service name from /etc/services, got 'http-altt'");
  assert.match(e.message, /did you mean 'http-alt'\?/);
  parseError('port = tftp\nserver = /x', 2, 'bad_value', "got 'tftp'"); // tftp is udp only
});

test('port: required for tcp and udp, forbidden for unix', () => {
  parseError('server = /x', 1, 'missing_key', 'a tcp service needs port = 1-65535');
  parseError('protocol = udp\nserver = /x', 1, 'missing_key', 'a udp service needs port');
  parseError('protocol = unix\npath = /run/a.sock\nport = 5\nserver = /x', 4, 'bad_combination',
    'port is for tcp and udp services');
});

// --- bind ----------------------------------------------------------------

test('bind: an IPv4 or IPv6 literal that fits the protocol', () => {
  assert.equal(parse(`bind = 127.0.0.1\n${TCP}`).bind, '127.0.0.1');
  assert.equal(parse(`bind = ::1\n${TCP}`).bind, '::1');
  assert.equal(parse(`protocol = tcp4\nbind = 10.1.2.3\n${TCP}`).bind, '10.1.2.3');
  assert.equal(parse(`protocol = tcp6\nbind = 2001:db8::1\n${TCP}`).bind, '2001:db8::1');
});

test('bind: host names, a family that does not fit and unix are errors', () => {
  parseError(`bind = localhost\n${TCP}`, 2, 'bad_value', "bind must be an IPv4 or IPv6 address, like 127.0.0.1 or ::1 (host names are not resolved), got 'localhost'");
  parseError(`bind = 1.2.3\n${TCP}`, 2, 'bad_value', "got '1.2.3'");
  parseError(`protocol = tcp4\nbind = ::1\n${TCP}`, 3, 'bad_value', "bind must be an IPv4 address for protocol tcp4, got '::1' (use protocol = tcp6 or tcp)");
  parseError(`protocol = tcp6\nbind = 127.0.0.1\n${TCP}`, 3, 'bad_value', 'must be an IPv6 address for protocol tcp6');
  parseError('protocol = unix\npath = /run/a.sock\nbind = ::1\nserver = /x', 4, 'bad_combination', 'bind is for tcp and udp');
});

// --- path and socket_mode -------------------------------------------------

test('path: absolute, required for unix, forbidden for tcp and udp', () => {
  assert.equal(parse('protocol = unix\npath = /run/superd/x.sock\nserver = /x').path, '/run/superd/x.sock');
  parseError('protocol = unix\npath = run/x.sock\nserver = /x', 3, 'bad_value', "path must be an absolute path like /run/superd/NAME.sock, got 'run/x.sock'");
  parseError('protocol = unix\nserver = /x', 1, 'missing_key', 'protocol = unix needs path =');
  parseError(`path = /run/x.sock\n${TCP}`, 2, 'bad_combination', 'path is for protocol = unix');
  parseError(`protocol = unix\npath = /${'x'.repeat(107)}\nserver = /x`, 3, 'bad_value', 'at most 107 bytes');
});

test('socket_mode: octal permissions, unix only, default 0666', () => {
  const unix = 'protocol = unix\npath = /run/x.sock\nserver = /x\n';
  assert.equal(parse(unix).socketMode, 0o666);
  assert.equal(parse(`${unix}socket_mode = 0660`).socketMode, 0o660);
  assert.equal(parse(`${unix}socket_mode = 600`).socketMode, 0o600);
  parseError(`${unix}socket_mode = 0999`, 5, 'bad_value', "socket_mode must be octal permissions like 0660 (at most 0777), got '0999'");
  parseError(`${unix}socket_mode = 1777`, 5, 'bad_value', "got '1777'");
  parseError(`${unix}socket_mode = rw`, 5, 'bad_value', "got 'rw'");
  parseError(`socket_mode = 0660\n${TCP}`, 2, 'bad_combination', 'socket_mode is for protocol = unix only');
});

// --- wait ----------------------------------------------------------------

test('wait: no for tcp and unix, yes for udp, or as written', () => {
  assert.equal(parse(TCP).wait, false);
  assert.equal(parse('protocol = unix\npath = /run/x.sock\nserver = /x').wait, false);
  assert.equal(parse('protocol = udp\nport = 69\nserver = /x').wait, true);
  assert.equal(parse(`wait = yes\n${TCP}`).wait, true);
  assert.equal(parse('protocol = udp\nport = 7\nbuiltin = echo\nwait = no').wait, false);
  parseError(`wait = maybe\n${TCP}`, 2, 'bad_value', "wait must be yes or no (or true/false, on/off, 1/0), got 'maybe'");
});

test('wait: a udp server with wait = no is an error that says why', () => {
  parseError('protocol = udp\nport = 69\nserver = /x\nwait = no', 5, 'bad_combination',
    'a udp service with a server must be wait = yes: a nowait datagram handler would be started for every datagram');
});

test('booleans: yes/no, true/false, on/off, 1/0 in any case', () => {
  for (const v of ['yes', 'YES', 'true', 'True', 'on', '1']) assert.equal(parse(`disabled = ${v}\n${TCP}`).disabled, true, v);
  for (const v of ['no', 'No', 'false', 'FALSE', 'off', '0']) assert.equal(parse(`disabled = ${v}\n${TCP}`).disabled, false, v);
});

// --- server, args, builtin -------------------------------------------------

test('server and args: argv[0] is the base name, args split like a shell', () => {
  const d = parse(`port = 1\nserver = /usr/bin/git\nargs = daemon --inetd "--base-path=/srv/my git" 'a b'\\ c #x`);
  assert.deepEqual(d.handler, {
    kind: 'server',
    program: '/usr/bin/git',
    argv: ['git', 'daemon', '--inetd', '--base-path=/srv/my git', 'a b c', '#x'],
  });
  assert.deepEqual(parse(`${TCP}args =`).handler, { kind: 'server', program: '/usr/bin/git', argv: ['git'] });
  assert.equal(parse('port = 1\nserver = "/opt/my prog/run"').handler.kind, 'server');
});

test('server: must be absolute; exactly one of server and builtin', () => {
  parseError('port = 1\nserver = git', 3, 'bad_value', "server must be the absolute path of a program, like /usr/sbin/in.tftpd (there is no PATH search), got 'git'");
  parseError('port = 1\nserver = /x\nbuiltin = echo', 4, 'bad_combination', 'set exactly one of server and builtin');
  parseError('port = 1', 1, 'missing_key', 'set server = /absolute/path/of/program or builtin = echo|discard|chargen|daytime|time');
});

test('args: bad quoting is an error at its line', () => {
  parseError(`${TCP}args = "unterminated`, 4, 'bad_value', 'args: unterminated double quote at column 1');
});

test('builtin: the five of SPEC §2; args and process keys make no sense with it', () => {
  for (const b of ['echo', 'discard', 'chargen', 'daytime', 'time'] as const) {
    assert.deepEqual(parse(`port = 7\nbuiltin = ${b}`).handler, { kind: 'builtin', name: b });
  }
  parseError('port = 7\nbuiltin = qotd', 3, 'bad_value', 'builtin must be one of echo, discard, chargen, daytime, time, got \'qotd\'');
  parseError('port = 7\nbuiltin = echo\nargs = -x', 4, 'bad_combination', 'args has no effect with builtin');
  parseError('port = 7\nbuiltin = echo\nuser = git', 4, 'bad_combination', 'user has no effect with builtin');
  parseError('protocol = unix\npath = /run/e.sock\nbuiltin = echo', 4, 'bad_combination', 'builtins are served over tcp and udp only');
});

// --- user and group -------------------------------------------------------

test('user: a name or a uid; the group defaults to the primary one', () => {
  assert.deepEqual(parse(`${TCP}user = git`).credentials, { uid: 1001, gid: 1001, label: 'git(1001)' });
  assert.deepEqual(parse(`${TCP}user = 1`).credentials, { uid: 1, gid: 1, label: 'daemon(1)' });
  assert.deepEqual(parse(`${TCP}user = 4242\ngroup = staff`).credentials, { uid: 4242, gid: 50, label: '4242' });
});

test('user: unknown names and unknown uids without a group are errors', () => {
  const e = parseError(`${TCP}user = gti`, 4, 'bad_value', "user must be a user name the system knows (/etc/passwd, LDAP, sssd… as /etc/nsswitch.conf says) or a numeric uid, got 'gti'");
  assert.match(e.message, /did you mean 'git'\?/);
  parseError(`${TCP}user = 4242`, 4, 'missing_key', 'uid 4242 is no user the system knows, so it has no primary group: set group too');
});

test('group: a name or a gid; without user it applies to superd\'s own uid', () => {
  assert.deepEqual(parse(`${TCP}user = git\ngroup = staff`).credentials, { uid: 1001, gid: 50, label: 'git(1001)' });
  assert.deepEqual(parse(`${TCP}user = git\ngroup = 77`).credentials, { uid: 1001, gid: 77, label: 'git(1001)' });
  assert.deepEqual(parse(`${TCP}group = staff`).credentials, { uid: 0, gid: 50, label: 'root(0)' });
  parseError(`${TCP}group = nogroup`, 4, 'bad_value', "group must be a group name the system knows (/etc/group, LDAP, sssd… as /etc/nsswitch.conf says) or a numeric gid, got 'nogroup'");
});

test('user and group other than superd\'s own need superd to run as root', () => {
  const asGit: ValidateContext = { ...CTX, selfUid: 1001, selfGid: 1001 };
  parseError(`${TCP}user = root`, 4, 'needs_root', "user 'root' needs superd to run as root (it runs as uid 1001)", asGit);
  parseError(`${TCP}group = staff`, 4, 'needs_root', "group 'staff' needs superd to run as root", asGit);
  assert.deepEqual(parse(`${TCP}user = git`, asGit).credentials, { uid: 1001, gid: 1001, label: 'git(1001)' });
  assert.deepEqual(parse(`${TCP}user = 1001\ngroup = git`, asGit).credentials, { uid: 1001, gid: 1001, label: 'git(1001)' });
});

// --- limits --------------------------------------------------------------

test('max_children: integer >= 1, default 256', () => {
  assert.equal(parse(`${TCP}max_children = 1`).maxChildren, 1);
  for (const bad of ['0', 'ten', '1.5', '+3', '']) {
    parseError(`${TCP}max_children = ${bad}`, 4, 'bad_value', `max_children must be a whole number of at least 1, got '${bad}'`);
  }
});

test('queue: integer >= 0, default 128', () => {
  assert.equal(parse(`${TCP}queue = 0`).queue, 0);
  assert.equal(parse(`${TCP}queue = 1000`).queue, 1000);
  parseError(`${TCP}queue = -1`, 4, 'bad_value', "queue must be a whole number of at least 0, got '-1'");
});

test('max_per_source, rate, rate_per_source: integer >= 1, default unlimited', () => {
  const d = parse(`${TCP}max_per_source = 4\nrate = 60\nrate_per_source = 10`);
  assert.deepEqual([d.maxPerSource, d.rate, d.ratePerSource], [4, 60, 10]);
  for (const key of ['max_per_source', 'rate', 'rate_per_source']) {
    parseError(`${TCP}${key} = 0`, 4, 'bad_value', `${key} must be a whole number of at least 1, got '0'`);
    parseError(`${TCP}${key} = 99999999999999999999`, 4, 'bad_value', `${key} must be a whole number`);
  }
});

// --- access lists ---------------------------------------------------------

test('only_from and no_access: addresses and CIDR blocks, spaces or commas', () => {
  const d = parse(`${TCP}only_from = 10.0.0.0/8, 192.168.1.7 ::1,2001:db8::/32\nno_access = 10.9.0.0/16`);
  assert.deepEqual(d.onlyFrom, ['10.0.0.0/8', '192.168.1.7', '::1', '2001:db8::/32']);
  assert.deepEqual(d.noAccess, ['10.9.0.0/16']);
  assert.deepEqual(parse(`${TCP}only_from = 0.0.0.0/0 ::/0`).onlyFrom, ['0.0.0.0/0', '::/0']);
  assert.deepEqual(parse(`${TCP}no_access =`).noAccess, []);
});

test('only_from and no_access: host names, bad prefixes and an empty only_from are errors', () => {
  parseError(`${TCP}only_from = example.com`, 4, 'bad_value', "only_from takes IP addresses and CIDR blocks, like 192.168.1.0/24 or 2001:db8::/32 (host names are not resolved), got 'example.com'");
  parseError(`${TCP}only_from = 10.0.0.0/33`, 4, 'bad_value', "only_from: the prefix length of an IPv4 block must be 0-32, got '10.0.0.0/33'");
  parseError(`${TCP}no_access = ::1/129`, 4, 'bad_value', 'IPv6 block must be 0-128');
  parseError(`${TCP}no_access = 10.0.0.0/x`, 4, 'bad_value', "got '10.0.0.0/x'");
  parseError(`${TCP}only_from = ,`, 4, 'bad_value', 'only_from needs at least one address or CIDR block');
});

// --- environment -----------------------------------------------------------

test('env: NAME=value words with shell-like quoting; pass_env: names', () => {
  const d = parse(`${TCP}env = LANG=C GREETING="hello world" EMPTY= _X1='a=b'\npass_env = TZ HOME _x`);
  assert.deepEqual(d.env, ['LANG=C', 'GREETING=hello world', 'EMPTY=', '_X1=a=b']);
  assert.deepEqual(d.passEnv, ['TZ', 'HOME', '_x']);
});

test('env and pass_env: bad names and bad quoting are errors', () => {
  parseError(`${TCP}env = 1X=2`, 4, 'bad_value', "env: each word must be NAME=value, NAME made of letters, digits and _ and not starting with a digit (quote values with spaces), got '1X=2'");
  parseError(`${TCP}env = LANG`, 4, 'bad_value', "got 'LANG'");
  parseError(`${TCP}env = A='x`, 4, 'bad_value', 'env: unterminated single quote');
  parseError(`${TCP}pass_env = TZ A=B`, 4, 'bad_value', "pass_env: each word must be a variable name: letters, digits and _, not starting with a digit, got 'A=B'");
});

// --- timeout, stderr, disabled -------------------------------------------

test('timeout: a positive number of seconds', () => {
  assert.equal(parse(`${TCP}timeout = 30`).timeout, 30);
  assert.equal(parse(`${TCP}timeout = 2.5`).timeout, 2.5);
  assert.equal(parse(`${TCP}timeout = .5`).timeout, 0.5);
  for (const bad of ['0', '-1', '1e3', '30s', 'soon']) {
    parseError(`${TCP}timeout = ${bad}`, 4, 'bad_value', `timeout must be a positive number of seconds, like 30 or 2.5, got '${bad}'`);
  }
});

test('stderr: log, socket or null', () => {
  for (const s of ['log', 'socket', 'null'] as const) assert.equal(parse(`${TCP}stderr = ${s}`).stderr, s);
  parseError(`${TCP}stderr = file`, 4, 'bad_value', "stderr must be one of log, socket, null, got 'file'");
});

test('disabled: boolean, default no', () => {
  assert.equal(parse(TCP).disabled, false);
  parseError(`${TCP}disabled = perhaps`, 4, 'bad_value', "disabled must be yes or no");
});

// --- unknown keys ----------------------------------------------------------

test('unknown keys say what was probably meant', () => {
  parseError(`${TCP}instnaces = 4`, 4, 'unknown_key', "unknown key 'instnaces' (did you mean 'max_children'?)");
  assert.equal(unknownKeyMessage('prot'), "unknown key 'prot' (did you mean 'port'?)");
  assert.equal(unknownKeyMessage('Port'), "unknown key 'Port' (did you mean 'port'?)");
  assert.equal(unknownKeyMessage('max-children'), "unknown key 'max-children' (did you mean 'max_children'?)");
  assert.equal(unknownKeyMessage('only_form'), "unknown key 'only_form' (did you mean 'only_from'?)");
  assert.equal(unknownKeyMessage('instances'), "unknown key 'instances' (did you mean 'max_children'?)");
  assert.equal(unknownKeyMessage('per_source'), "unknown key 'per_source' (did you mean 'max_per_source'?)");
  assert.match(unknownKeyMessage('cps'), /did you mean 'rate'\?/);
  assert.equal(unknownKeyMessage('server_args'), "unknown key 'server_args' (did you mean 'args'?)");
  assert.match(unknownKeyMessage('socket_type'), /did you mean 'protocol'\? stream is protocol = tcp/);
  assert.equal(unknownKeyMessage('interface'), "unknown key 'interface' (did you mean 'bind'?)");
  assert.equal(unknownKeyMessage('passenv'), "unknown key 'passenv' (did you mean 'pass_env'?)");
  assert.equal(unknownKeyMessage('disable'), "unknown key 'disable' (did you mean 'disabled'?)");
  assert.match(unknownKeyMessage('log_on_success'), /^unknown key 'log_on_success' \(superd has no equivalent of 'log_on_success'/);
  assert.match(unknownKeyMessage('zzzzzzzz'), /^unknown key 'zzzzzzzz' \(known keys: protocol, port, bind,/);
});

test('every unknown key of a section is reported, each at its line', () => {
  const r = parseSection(FILE, scanned(`${TCP}foo = 1\nbar = 2`), CTX);
  assert.deepEqual(r.errors.map((e) => [e.code, e.line]), [['unknown_key', 4], ['unknown_key', 5]]);
});

test('editDistance counts a swap of neighbours as one edit', () => {
  assert.equal(editDistance('instnaces', 'instances'), 1);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('kitten', 'sitting'), 3);
});

test('keyLines maps each key to its line', () => {
  const r = parseSection(FILE, scanned(TCP), CTX);
  assert.deepEqual([...r.keyLines], [['port', 2], ['server', 3]]);
});

// --- every key is served; the per-source keys only where superd sees a source

test('validateSection accepts every kind and policy key the SPEC names', () => {
  const bodies = [
    `${TCP}user = git\ntimeout = 3`,
    'protocol = udp\nport = 69\nserver = /x',
    'protocol = unix\npath = /run/x.sock\nserver = /x',
    `${TCP}wait = yes`,
    'port = 7\nbuiltin = echo',
    'protocol = udp6\nport = 7\nbuiltin = chargen',
    `${TCP}only_from = 10.0.0.0/8, ::1\nno_access = 10.0.0.1\nmax_per_source = 4\nrate = 60\nrate_per_source = 5`,
    'protocol = udp\nport = 69\nserver = /x\nonly_from = 127.0.0.1\nrate_per_source = 5\nrate = 10',
    'protocol = udp\nport = 7\nbuiltin = echo\nno_access = 10.0.0.0/8\nrate_per_source = 5',
    'protocol = unix\npath = /run/x.sock\nserver = /x\nrate = 5',
  ];
  for (const body of bodies) assert.deepEqual(validateSection(FILE, scanned(body), CTX).errors, [], body);
});

test('per-source keys where superd never sees the source are errors that say why, at the key', () => {
  const cases: [string, number, RegExp][] = [
    ['protocol = unix\npath = /run/x.sock\nserver = /x\nonly_from = 127.0.0.1', 5, /only_from needs a remote address, and a unix socket's clients have none/],
    ['protocol = unix\npath = /run/x.sock\nserver = /x\nmax_per_source = 2', 5, /max_per_source needs a remote address/],
    [`${TCP}wait = yes\nno_access = 10.0.0.1`, 5, /no_access cannot apply to a tcp wait service: its handler accepts the connections itself/],
    [`${TCP}wait = yes\nrate_per_source = 3`, 5, /rate_per_source cannot apply to a tcp wait service/],
    ['protocol = udp\nport = 7\nbuiltin = echo\nmax_per_source = 2', 5, /max_per_source counts connections, and udp has none: use rate_per_source/],
  ];
  for (const [body, line, message] of cases) {
    const r = validateSection(FILE, scanned(body), CTX);
    assert.equal(r.definition, null, body);
    assert.equal(r.errors.length, 1, body);
    assert.equal(r.errors[0]?.code, 'bad_combination', body);
    assert.equal(r.errors[0]?.line, line, body);
    assert.match(r.errors[0]?.message ?? '', message, body);
  }
});

test('validateSection reports SPEC errors', () => {
  const r = validateSection(FILE, scanned('protocol = udp\nport = 0\nserver = /x'), CTX);
  assert.deepEqual(r.errors.map((e) => e.code), ['bad_value']);
});

// --- system databases and checkProgram --------------------------------------

test('parsePasswd, parseGroup and parseServices read the system formats', () => {
  assert.deepEqual(parsePasswd('root:x:0:0:root:/root:/bin/sh\n# c\n+nis\nbad:x:a:b\ngit:x:1001:1002::/:/bin/false\n'), [
    { name: 'root', uid: 0, gid: 0 },
    { name: 'git', uid: 1001, gid: 1002 },
  ]);
  assert.deepEqual(parseGroup('root:x:0:\nstaff:x:50:a,b\n'), [{ name: 'root', gid: 0 }, { name: 'staff', gid: 50 }]);
  const ports = parseServices('# c\nhttp 80/tcp www # web\nhttp 80/udp\nfoo 1/ddp\nhttp 8080/tcp\n');
  assert.deepEqual([...ports], [['http/tcp', 80], ['www/tcp', 80], ['http/udp', 80]]);
});

test('the real system databases load', async () => {
  const db = await loadUserDb();
  assert.ok(db.users.some((u) => u.uid === 0));
  assert.ok(db.groups.some((g) => g.gid === 0));
  assert.ok((await loadPortDb()).size > 0);
  assert.deepEqual(await loadUserDb('/nonexistent/passwd', '/nonexistent/group'), { users: [], groups: [] });
});

test('checkProgram: missing, not a file, not executable, fine', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'superd-prog-'));
  try {
    const script = path.join(dir, 'run');
    await writeFile(script, '#!/bin/sh\n');
    await chmod(script, 0o644);
    assert.equal(await checkProgram(script), `server '${script}' is not executable: chmod +x ${script}`);
    await chmod(script, 0o755);
    assert.equal(await checkProgram(script), null);
    assert.equal(await checkProgram(path.join(dir, 'nope')), `server '${path.join(dir, 'nope')}' does not exist`);
    assert.equal(await checkProgram(dir), `server '${dir}' is not a regular file`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
