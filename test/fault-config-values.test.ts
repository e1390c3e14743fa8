// Hostile values in a service file (issue 14): a number from a file must be
// checked before it reaches a syscall or a timer, and a long value must be
// neither echoed back whole nor fed to super-linear work. Everything here is
// pure: parseSection with injected system databases, no daemon.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigError } from '../src/errors.js';
import { clip } from '../src/config/clip.js';
import { scanIni } from '../src/config/scan.js';
import { KEYS, nearest, unknownKeyMessage } from '../src/config/suggest.js';
import { parseSection, type SectionResult, type ValidateContext } from '../src/config/validate.js';
import { systemDatabases } from './helpers/config.js';

const FILE = '/etc/superd/services.d/svc.conf';

const CTX = systemDatabases(
  [['root', 0, 0], ['git', 1001, 1001], ['ghost', 4294967295, 1001]],
  [['root', 0], ['git', 1001], ['nogroup', 4294967295]],
  // /etc/services is a file like any other: these resolve to no port at all.
  'git 9418/tcp\nzero 0/tcp\nhuge 70000/tcp\nbig 99999999999999999999/udp\n',
);

/** The body goes under `[svc]` on line 1, so its first line is line 2. */
function section(body: string, ctx: ValidateContext = CTX): SectionResult {
  const r = scanIni(FILE, `[svc]\n${body}`);
  assert.deepEqual(r.errors, []);
  const s = r.sections[0];
  assert.ok(s !== undefined);
  return parseSection(FILE, s, ctx);
}

function onlyError(body: string, line: number): ConfigError {
  const r = section(body);
  assert.equal(r.definition, null, body.slice(0, 200));
  assert.equal(r.errors.length, 1, JSON.stringify(r.errors, null, 1).slice(0, 2000));
  const e = r.errors[0] as ConfigError;
  assert.equal(e.line, line, e.message);
  assert.equal(e.service, 'svc');
  return e;
}

const SERVER = 'server = /bin/cat\n';

describe('a port name resolves to a number that is checked like a literal one', () => {
  test('a name that /etc/services maps to 0 is an error naming the name and the number', () => {
    const e = onlyError(`port = zero\n${SERVER}`, 2);
    assert.equal(e.code, 'bad_value');
    assert.match(e.message, /'zero'/);
    assert.match(e.message, /\b0\/tcp\b/);
    assert.match(e.message, /1-65535/);
  });
  test('a name past 65535 is an error, for tcp and udp alike', () => {
    assert.match(onlyError(`port = huge\n${SERVER}`, 2).message, /'huge' is 70000\/tcp/);
    const udp = onlyError(`protocol = udp\nport = big\nwait = yes\n${SERVER}`, 3);
    assert.match(udp.message, /'big' is 100000000000000000000\/udp/);
  });
  test('a good name still resolves', () => {
    assert.equal(section(`port = git\n${SERVER}`).definition?.port, 9418);
  });
});

describe('timeout becomes a timer: at most 2^31-1 ms', () => {
  test('30 days is refused, with the limit in the message', () => {
    const e = onlyError(`port = 7\n${SERVER}timeout = 2592000`, 4);
    assert.match(e.message, /timeout must be at most 2147483 seconds \(24\.8 days\)/);
    assert.match(e.message, /got '2592000'/);
  });
  test('the limit itself is accepted, a fraction past it is not', () => {
    assert.equal(section(`port = 7\n${SERVER}timeout = 2147483`).definition?.timeout, 2147483);
    assert.match(onlyError(`port = 7\n${SERVER}timeout = 2147483.5`, 4).message, /at most 2147483/);
  });
  test('every key that becomes a timer fits one', () => {
    // timeout is the only key in seconds today; the rate's delay is at most 60 s.
    const def = section(`port = 7\n${SERVER}timeout = 2147483\nrate = 1`).definition;
    assert.ok(def !== null && def.timeout !== null && def.rate !== null);
    assert.ok(def.timeout * 1000 <= 2 ** 31 - 1);
    assert.ok(Math.ceil(60_000 / def.rate) <= 2 ** 31 - 1);
  });
});

describe('uids and gids are what a process can have', () => {
  test('(uid_t)-1, which setresuid reads as "unchanged", is refused as a number', () => {
    assert.match(onlyError(`port = 7\n${SERVER}user = 4294967295`, 4).message, /uid must be 0-4294967294/);
    assert.match(onlyError(`port = 7\n${SERVER}group = 99999999999999999999999`, 4).message, /gid must be 0-4294967294/);
  });
  test('and as what the user or group database says a name is', () => {
    assert.match(onlyError(`port = 7\n${SERVER}user = ghost`, 4).message, /'ghost' has uid 4294967295 in the user database/);
    assert.match(onlyError(`port = 7\n${SERVER}user = git\ngroup = nogroup`, 5).message, /'nogroup' has gid 4294967295 in the group database/);
  });
  test('the largest real id is fine', () => {
    assert.equal(section(`port = 7\n${SERVER}user = 4294967294\ngroup = 1`).definition?.credentials?.uid, 4294967294);
  });
});

describe('values that exec would refuse at every connection', () => {
  test('a server path longer than PATH_MAX', () => {
    const e = onlyError(`port = 7\nserver = /${'a/'.repeat(2100)}x`, 3);
    assert.match(e.message, /at most 4095 bytes/);
  });
  test('an argument or variable of 128 KiB or more', () => {
    assert.match(onlyError(`port = 7\n${SERVER}args = ${'x'.repeat(131072)}`, 4).message, /args: each word must be shorter than 131072 bytes/);
    assert.match(onlyError(`port = 7\n${SERVER}env = A=${'x'.repeat(131072)}`, 4).message, /env: each word/);
    assert.ok(section(`port = 7\n${SERVER}args = ${'x'.repeat(131071)}`).definition !== null);
  });
});

describe('long text is never echoed whole', () => {
  test('clip: 64 characters and an ellipsis, control characters escaped', () => {
    assert.equal(clip('short'), 'short');
    assert.equal(clip('x'.repeat(64)), 'x'.repeat(64));
    assert.equal(clip('x'.repeat(65)), `${'x'.repeat(64)}…`);
    assert.equal(clip('a\x1b[2Jb\r'), 'a\\x1b[2Jb\\x0d');
    assert.equal(clip(`${'x'.repeat(63)}😀`), `${'x'.repeat(63)}…`, 'no half surrogate pair');
  });
  const MB = 'y'.repeat(900 * 1024);
  for (const [what, body] of [
    ['port', `port = ${MB}\n${SERVER}`],
    ['bind', `port = 7\nbind = ${MB}\n${SERVER}`],
    ['only_from', `port = 7\n${SERVER}only_from = ${MB}`],
    ['user', `port = 7\n${SERVER}user = ${MB}`],
    ['server', `port = 7\nserver = ${MB}`],
    ['protocol', `protocol = ${MB}\nport = 7\n${SERVER}`],
    ['an unknown key', `port = 7\n${SERVER}${MB} = 1`],
  ]) {
    test(`a 900 KiB ${what}`, () => {
      const r = section(body as string);
      assert.ok(r.errors.length >= 1);
      for (const e of r.errors) {
        assert.ok(e.message.length < 600, `${what}: ${e.message.length} characters: ${e.message.slice(0, 300)}`);
        assert.match(e.message, /y…/);
      }
    });
  }
  test('a scan error quotes a long line cut', () => {
    const r = scanIni(FILE, `[a]\n${'z'.repeat(100000)}\n[${'b'.repeat(100000)}\n`);
    assert.equal(r.errors.length, 2);
    for (const e of r.errors) assert.ok(e.message.length < 300, e.message.slice(0, 300));
  });
  test('a service name is at most 64 characters', () => {
    const r = scanIni(FILE, `[${'n'.repeat(65)}]\nport = 7\n[${'m'.repeat(64)}]\nport = 8\n`);
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0]?.line, 1);
    assert.equal(r.errors[0]?.service, null);
    assert.match(r.errors[0]?.message ?? '', /65 characters long: at most 64/);
    assert.deepEqual(r.sections.map((s) => s.name), ['m'.repeat(64)]);
  });
});

// How long these take is measured by `npm run bench`, not asserted here.
describe('"did you mean" on huge words', () => {
  test('an unknown key of 900 KiB is answered without a suggestion, in a bounded message', () => {
    const key = 'q'.repeat(900 * 1024);
    const message = unknownKeyMessage(key);
    // The key clipped, and the list of known keys, which grows with the keys.
    assert.ok(message.length < 150 + KEYS.join(', ').length, message.slice(0, 400));
    assert.match(message, /known keys:/);
  });
  test('a long user or port name against a large database: one error each', () => {
    const users = Array.from({ length: 5000 }, (_, i) => ({ name: `user${i}`, uid: 10000 + i, gid: 100 }));
    const ports = new Map(Array.from({ length: 5000 }, (_, i) => [`svc${i}/tcp`, 1 + i] as [string, number]));
    const ctx: ValidateContext = { ...CTX, passwd: { users, groups: CTX.passwd.groups }, ports };
    const r = section(`port = ${'p'.repeat(200000)}\n${SERVER}user = ${'u'.repeat(200000)}`, ctx);
    assert.equal(r.errors.length, 2);
  });
  test('short words still get their suggestion', () => {
    assert.equal(nearest('max_chidlren', ['max_children', 'queue']), 'max_children');
    assert.equal(nearest('x'.repeat(65), ['x'.repeat(65)]), null);
    assert.match(unknownKeyMessage('instnaces'), /did you mean 'max_children'/);
  });
});

describe('a value with a trailing comment (SPEC §2) is served as written, with a warning', () => {
  test('args = --verbose # debug', () => {
    const r = section(`port = 7\n${SERVER}args = --verbose # debug`);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.definition?.handler, { kind: 'server', program: '/bin/cat', argv: ['cat', '--verbose', '#', 'debug'] });
    assert.equal(r.warnings.length, 1);
    const w = r.warnings[0] as ConfigError;
    assert.equal(w.code, 'trailing_comment');
    assert.equal(w.line, 4);
    assert.equal(w.service, 'svc');
    assert.match(w.message, /'# debug' is part of the value of args/);
  });
  test('with ; and a tab, on any key', () => {
    const r = section(`port = 7\n${SERVER}env = A=1\t; old value`);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]?.message ?? '', /'; old value' is part of the value of env/);
  });
  test('a port with a comment is an error and a warning that explains it', () => {
    const r = section(`port = 7000 # echo\n${SERVER}`);
    assert.equal(r.errors.length, 1);
    assert.equal(r.warnings.length, 1);
    assert.equal(r.warnings[0]?.line, 2);
  });
  test('no warning for # or ; inside a word', () => {
    for (const v of ['args = --url http://h/#top', 'args = --color=#fff', 'env = GREETING=hi;there', "args = '# quoted'"]) {
      assert.deepEqual(section(`port = 7\n${SERVER}${v}`).warnings, [], v);
    }
  });
  test('a long comment is quoted cut', () => {
    const r = section(`port = 7\n${SERVER}args = -v # ${'c'.repeat(100000)}`);
    assert.ok((r.warnings[0]?.message.length ?? 0) < 300);
  });
});

describe('bind: an IPv6 zone is an interface name', () => {
  test('at most 15 characters after %', () => {
    assert.equal(section(`port = 7\nbind = fe80::1%eth0\n${SERVER}`).definition?.bind, 'fe80::1%eth0');
    assert.equal(section(`port = 7\nbind = fe80::1%${'e'.repeat(15)}\n${SERVER}`).errors.length, 0);
    const e = onlyError(`port = 7\nbind = fe80::1%${'e'.repeat(16)}\n${SERVER}`, 3);
    assert.match(e.message, /zone after '%' must be an interface name of at most 15 characters/);
  });
});
