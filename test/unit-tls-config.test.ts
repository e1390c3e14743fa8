// The TLS keys (SPEC §2), pure: parsed with their defaults, refused with an
// actionable message at the key's line wherever superd cannot terminate TLS
// (udp, unix, a tcp wait program) or a key lacks its partner; then the
// files as a load reads them (config/tls-files.ts): a problem at the line of
// the key that names the file, and a renewed certificate a changed
// definition (updated on reload, never rebound).
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, copyFile, lchown, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanIni } from '../src/config/scan.js';
import { parseSection, type SectionResult } from '../src/config/validate.js';
import { loadServicesDir } from '../src/config/load.js';
import { planReload } from '../src/config/plan.js';
import type { ServiceDefinition } from '../src/config/types.js';
import { systemDatabases } from './helpers/config.js';
import { scratchDirs } from './helpers/daemon.js';
import { notRoot } from './helpers/proc.js';
import { makePki, type TestPki } from './helpers/tls.js';

const DBS = systemDatabases([['root', 0, 0]], [['root', 0]], '');
const FILE = '/s/t.conf';

/** `[t]` on line 1, then each key on its own line from line 2, in order. */
function section(lines: string[]): SectionResult {
  const { sections: [only], errors } = scanIni(FILE, `[t]\n${lines.join('\n')}`);
  assert.deepEqual(errors, []);
  return parseSection(FILE, only ?? assert.fail('no section'), DBS);
}

const CAT = ['port = 7000', 'server = /bin/cat'];
const PAIR = ['tls_cert = /etc/ssl/a.pem', 'tls_key = /etc/ssl/private/a.key'];

describe('tls keys: accepted', () => {
  test('tls_cert and tls_key, with TLS 1.2 at least, 10 s, no client certificates by default', () => {
    const r = section([...CAT, ...PAIR]);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.definition?.tls, { cert: '/etc/ssl/a.pem', key: '/etc/ssl/private/a.key', clientCa: null, minVersion: 'TLSv1.2', timeout: 10, loaded: null });
  });
  test('every key (the version in any case); a builtin, tcp4 and tcp6 take them too', () => {
    const r = section([...CAT, ...PAIR, 'tls_client_ca = /etc/ssl/ca.pem', 'tls_min_version = tlsv1.3', 'tls_timeout = 2.5']);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.definition?.tls, { cert: '/etc/ssl/a.pem', key: '/etc/ssl/private/a.key', clientCa: '/etc/ssl/ca.pem', minVersion: 'TLSv1.3', timeout: 2.5, loaded: null });
    for (const lines of [['port = 7', 'builtin = echo'], ['protocol = tcp4', ...CAT], ['protocol = tcp6', ...CAT]]) {
      assert.deepEqual(section([...lines, ...PAIR]).errors, [], lines.join(' '));
    }
  });
  test('no keys: no tls at all (the definition has no tls)', () => {
    const def = section(CAT).definition;
    assert.ok(def !== null);
    assert.equal('tls' in def, false);
  });
});

/** What a section is refused for: its lines, then the line, code and words of its one error (the section is line 1). */
const REFUSALS: [string, string[], number, string, string][] = [
  ['tls_cert without tls_key', [...CAT, 'tls_cert = /a.pem'], 4, 'missing_key', 'tls_cert needs tls_key too'],
  ['tls_key without tls_cert', [...CAT, 'tls_key = /a.key'], 4, 'missing_key', 'tls_key needs tls_cert too'],
  ['tls_client_ca alone', [...CAT, 'tls_client_ca = /ca.pem'], 4, 'bad_combination', 'tls_client_ca has no effect without tls_cert and tls_key'],
  ['tls_timeout alone', [...CAT, 'tls_timeout = 3'], 4, 'bad_combination', 'tls_timeout has no effect'],
  ['a relative path', [...CAT, 'tls_cert = a.pem', 'tls_key = /a.key'], 4, 'bad_value', 'tls_cert must be the absolute path of a PEM file'],
  ['an unknown version', [...CAT, ...PAIR, 'tls_min_version = TLSv1.1'], 6, 'bad_value', 'tls_min_version must be one of TLSv1.2, TLSv1.3'],
  ['a zero timeout', [...CAT, ...PAIR, 'tls_timeout = 0'], 6, 'bad_value', 'tls_timeout must be a positive number of seconds'],
  ['udp', ['protocol = udp', 'port = 7', 'builtin = echo', ...PAIR], 5, 'bad_combination', 'TLS (tls_cert, tls_key) is for tcp services'],
  ['unix', ['protocol = unix', 'path = /run/x.sock', 'server = /bin/cat', ...PAIR], 5, 'bad_combination', 'put a TLS terminator in front of a unix socket'],
  ['a tcp wait program', [...CAT, 'wait = yes', ...PAIR], 5, 'bad_combination', 'needs wait = no'],
];

describe('tls keys: refused at the key at fault', () => {
  for (const [name, lines, line, code, says] of REFUSALS) {
    test(name, () => {
      const { definition, errors } = section(lines);
      assert.equal(definition, null);
      assert.equal(errors.length, 1, JSON.stringify(errors));
      assert.deepEqual([errors[0]?.line, errors[0]?.code], [line, code]);
      assert.ok(errors[0]?.message.includes(says), errors[0]?.message);
    });
  }
  test("stunnel's and nginx's names point at the keys", () => {
    const r = section([...CAT, 'cert = /a.pem', 'CAfile = /ca.pem']);
    assert.match(r.errors[0]?.message ?? '', /tls_cert/);
    assert.match(r.errors[1]?.message ?? '', /tls_client_ca/);
  });
});

describe('tls files: read at every load', () => {
  const dirs = scratchDirs('superd-tls-unit-');
  let pki: TestPki;
  let dir: string;
  before(async () => {
    pki = await makePki(await dirs());
    dir = await dirs();
  });

  /** One service file `t.conf` in a fresh services dir, loaded as superd's own user would (root: the checks on). */
  async function load(keys: string[]): Promise<{ defs: ServiceDefinition[]; errors: { line: number; message: string }[] }> {
    const services = await dirs();
    await writeFile(join(services, 't.conf'), ['[t]', ...CAT, ...keys, ''].join('\n'), { mode: 0o644 });
    const r = await loadServicesDir(services);
    const file = r.files[0];
    assert.ok(file !== undefined, JSON.stringify(r.fatal));
    return { defs: file.services, errors: file.errors.map((e) => ({ line: e.line, message: e.message })) };
  }

  test('good files: a digest and a context; the same files twice are the same definition, new content a change (not a rebind)', async () => {
    const cert = join(dir, 'a.pem');
    const key = join(dir, 'a.key');
    await copyFile(pki.server.cert, cert);
    await copyFile(pki.server.key, key);
    await chmod(key, 0o600);
    const first = await load([`tls_cert = ${cert}`, `tls_key = ${key}`]);
    assert.deepEqual(first.errors, []);
    const def = first.defs[0];
    assert.match(def?.tls?.loaded?.digest ?? '', /^[0-9a-f]{64}$/);
    assert.ok(def?.tls?.loaded?.context.secureContext !== undefined);
    assert.equal(JSON.stringify(def?.tls?.loaded?.context), '{}', 'nothing of the key is printable');
    const current = new Map(first.defs.map((d) => [d.name, d]));
    const again = await load([`tls_cert = ${cert}`, `tls_key = ${key}`]);
    const same = planReload(current, { files: [{ file: again.defs[0]?.origin.file ?? '', services: again.defs, errors: [], warnings: [] }], fatal: null });
    assert.deepEqual([same.unchanged.length, same.change.length], [1, 0]);
    await copyFile(pki.renewed.cert, cert);
    await copyFile(pki.renewed.key, key);
    const renewed = await load([`tls_cert = ${cert}`, `tls_key = ${key}`]);
    const plan = planReload(current, { files: [{ file: renewed.defs[0]?.origin.file ?? '', services: renewed.defs, errors: [], warnings: [] }], fatal: null });
    assert.deepEqual(plan.change.map((c) => c.rebind), [false]);
  });

  test('each bad file is an error at the line of its key, saying what is wrong', async () => {
    const junk = join(dir, 'junk.pem');
    await writeFile(junk, 'not a certificate\n', { mode: 0o600 });
    const cases: [string[], number, RegExp][] = [
      [[`tls_cert = ${join(dir, 'missing.pem')}`, `tls_key = ${pki.server.key}`], 4, /cannot read tls_cert .*missing\.pem': it does not exist/],
      [[`tls_cert = ${junk}`, `tls_key = ${pki.server.key}`], 4, /tls_cert '.*junk\.pem' holds no PEM certificate/],
      [[`tls_cert = ${pki.server.cert}`, `tls_key = ${junk}`], 5, /tls_key '.*junk\.pem' holds no usable PEM private key/],
      [[`tls_cert = ${pki.server.cert}`, `tls_key = ${pki.client.key}`], 5, /is not the private key of the certificate in tls_cert/],
      [[`tls_cert = ${pki.server.cert}`, `tls_key = ${pki.server.key}`, `tls_client_ca = ${junk}`], 6, /tls_client_ca '.*junk\.pem' holds no PEM certificate/],
    ];
    for (const [keys, line, message] of cases) {
      const r = await load(keys);
      assert.deepEqual(r.defs, []);
      assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
      assert.equal(r.errors[0]?.line, line, JSON.stringify(r.errors));
      assert.match(r.errors[0]?.message ?? '', message);
    }
  });

  test('as root: a key readable by group or others is refused, and so is a file reached through a link root does not own', { skip: notRoot('the ownership and mode checks apply when superd runs as root') }, async () => {
    const open = join(dir, 'open.key');
    await copyFile(pki.server.key, open);
    await chmod(open, 0o644);
    const r = await load([`tls_cert = ${pki.server.cert}`, `tls_key = ${open}`]);
    assert.equal(r.errors[0]?.line, 5);
    assert.match(r.errors[0]?.message ?? '', /tls_key '.*open\.key' is readable by group and others: .*chmod go-rwx/);
    const link = join(dir, 'planted.pem');
    await symlink(pki.server.cert, link);
    await lchown(link, 65534, 65534);
    const planted = await load([`tls_cert = ${link}`, `tls_key = ${pki.server.key}`]);
    assert.equal(planted.errors[0]?.line, 4);
    assert.match(planted.errors[0]?.message ?? '', /planted\.pem' is owned by uid 65534, not root/);
    // root's own link is followed (certbot's live/ links are).
    const own = join(dir, 'own.pem');
    await symlink(pki.server.cert, own);
    assert.deepEqual((await load([`tls_cert = ${own}`, `tls_key = ${pki.server.key}`])).errors, []);
  });
});
