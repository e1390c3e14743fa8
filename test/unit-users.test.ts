// How a load gets its users and groups (src/config/users.ts): the values the
// service files name, NSS's answers turned into the UserDb validation reads
// (with a source a test decides: no native call), and the real NSS calls of
// src/sys/nss.ts for what every host has.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SysError } from '../src/sys/errors.js';
import { loadNss, type GroupEntry, type Lookup, type PasswdEntry } from '../src/sys/nss.js';
import { resolveCredentials } from '../src/config/credentials.js';
import { readSection } from '../src/config/section-reader.js';
import { scanIni } from '../src/config/scan.js';
import { nearest } from '../src/config/suggest.js';
import { addWanted, filesSource, noneWanted, resolveWanted, type UserSource } from '../src/config/users.js';
import { resolveGroup, resolveUser } from '../src/config/values.js';
import type { UserDb } from '../src/config/systemdb.js';

/** A source that answers from tables and records what it was asked; a name in `failing` fails as LDAP down would. */
function fakeSource(users: PasswdEntry[], groups: GroupEntry[], failing: string[] = []): UserSource & { asked: string[] } {
  const asked: string[] = [];
  const fail = (what: string): SysError => new SysError('EIO', `${what}: input/output error (EIO)`);
  const answer = async <T>(what: string, key: string, found: T | undefined): Promise<Lookup<T>> => {
    asked.push(`${what} ${key}`);
    if (failing.includes(key)) return fail(what);
    return found ?? null;
  };
  return {
    asked,
    getpwnam: (name) => answer('getpwnam_r', name, users.find((u) => u.name === name)),
    getpwuid: (uid) => answer('getpwuid_r', String(uid), users.find((u) => u.uid === uid)),
    getgrnam: (name) => answer('getgrnam_r', name, groups.find((g) => g.name === name)),
  };
}

const HINTS: UserDb = { users: [{ name: 'root', uid: 0, gid: 0 }, { name: 'git', uid: 1001, gid: 1001 }], groups: [{ name: 'staff', gid: 50 }] };

describe('addWanted: the user and group values of every section, as validation reads them', () => {
  test('names, uids, quoted values; numeric groups, empty values and NULs need no lookup', () => {
    const w = noneWanted();
    addWanted('[a]\nuser = alice\ngroup = devs\n[b]\nuser = "bob"\ngroup = 77\n[c]\nuser = 1001\n[d]\nuser =\ngroup = \'ops\'\n[e]\nuser = x\0y\n', w);
    addWanted('[f]\nuser = alice\nuser = carol\n', w);
    assert.deepEqual([...w.userNames], ['alice', 'bob']);
    assert.deepEqual([...w.uids], [1001]);
    assert.deepEqual([...w.groupNames], ['devs', 'ops']);
  });
  test('a uid no process can have is not asked for (validation refuses it)', () => {
    const w = noneWanted();
    addWanted('[a]\nuser = 4294967295\n', w);
    assert.deepEqual([...w.uids], []);
  });
});

describe('resolveWanted: answers -> UserDb', () => {
  test('found, not found, failed; names kept as written; uid answers first', async () => {
    const source = fakeSource(
      [{ name: 'alice', uid: 5000, gid: 5000 }, { name: 'Bob', uid: 5001, gid: 100 }, { name: 'root', uid: 0, gid: 0 }],
      [{ name: 'devs', gid: 6000 }],
      ['carol', 'ops'],
    );
    const w = noneWanted();
    addWanted('[a]\nuser = alice\ngroup = devs\n[b]\nuser = bob\n[c]\nuser = carol\ngroup = ops\n[d]\nuser = nobody-here\ngroup = nogroup-here\n[e]\nuser = 0\n', w);
    const source2: UserSource = { ...source, getpwnam: async (name) => (name === 'bob' ? { name: 'Bob', uid: 5001, gid: 100 } : source.getpwnam(name)) };
    const db = await resolveWanted(w, source2, HINTS);
    assert.deepEqual(db.users, [{ name: 'root', uid: 0, gid: 0 }, { name: 'alice', uid: 5000, gid: 5000 }, { name: 'bob', uid: 5001, gid: 100 }]);
    assert.deepEqual(db.groups, [{ name: 'devs', gid: 6000 }]);
    assert.deepEqual([...(db.failed?.users ?? [])], [['carol', 'getpwnam_r: input/output error (EIO)']]);
    assert.deepEqual([...(db.failed?.groups ?? [])], [['ops', 'getgrnam_r: input/output error (EIO)']]);
    assert.deepEqual(db.hints, { users: ['root', 'git', 'alice', 'bob'], groups: ['staff', 'devs'] });

    assert.deepEqual(resolveUser('alice', db), { ok: true, value: { uid: 5000, gid: 5000, label: 'alice(5000)' } });
    assert.deepEqual(resolveUser('bob', db), { ok: true, value: { uid: 5001, gid: 100, label: 'bob(5001)' } });
    assert.deepEqual(resolveGroup('devs', db), { ok: true, value: 6000 });
    const failed = resolveUser('carol', db);
    assert.ok(!failed.ok);
    assert.equal(failed.error, "user 'carol' could not be looked up (getpwnam_r: input/output error (EIO)): is the source /etc/nsswitch.conf names for users (LDAP, sssd…) reachable?");
    const groupFailed = resolveGroup('ops', db);
    assert.ok(!groupFailed.ok);
    assert.match(groupFailed.error, /^group 'ops' could not be looked up \(getgrnam_r: .*\(EIO\)\): is the source \/etc\/nsswitch\.conf names for groups/);
    // Not found: the hints from /etc/passwd offer a guess; NSS is never enumerated.
    const unknown = resolveUser('gti', db, nearest);
    assert.ok(!unknown.ok);
    assert.match(unknown.error, /^user must be a user name the system knows .* got 'gti' \(did you mean 'git'\?\)$/);
  });

  test('at most two lookups at once, and each value once', async () => {
    let running = 0;
    let most = 0;
    let calls = 0;
    const slow = async (): Promise<null> => {
      calls += 1;
      running += 1;
      most = Math.max(most, running);
      await new Promise((r) => setImmediate(r));
      running -= 1;
      return null;
    };
    const w = noneWanted();
    addWanted(Array.from({ length: 10 }, (_, i) => `[s${i}]\nuser = u${i % 5}\ngroup = g${i}\n`).join(''), w);
    await resolveWanted(w, { getpwnam: slow, getpwuid: slow, getgrnam: slow }, HINTS);
    assert.equal(calls, 15);
    assert.equal(most, 2);
  });

  test("superd's own uid names it in a label when no user key is set", async () => {
    const w = noneWanted();
    w.uids.add(1001);
    const db = await resolveWanted(w, fakeSource([{ name: 'git', uid: 1001, gid: 1001 }], []), HINTS);
    const { sections } = scanIni('f', '[a]\ngroup = 1001\n');
    const section = sections[0] ?? assert.fail('no section');
    const { reader } = readSection('f', section, nearest);
    assert.deepEqual(resolveCredentials(reader, { passwd: db, selfUid: 1001, selfGid: 1001 }, nearest), { uid: 1001, gid: 1001, label: 'git(1001)' });
  });

  test('a numeric uid whose lookup failed: fine with a group, an error naming the failure without one', async () => {
    const w = noneWanted();
    addWanted('[a]\nuser = 7000\n', w);
    const db = await resolveWanted(w, fakeSource([], [], ['7000']), HINTS);
    const credentials = (text: string): { result: unknown; errors: string[] } => {
      const section = scanIni('f', text).sections[0] ?? assert.fail('no section');
      const { reader, errors } = readSection('f', section, nearest);
      return { result: resolveCredentials(reader, { passwd: db, selfUid: 0, selfGid: 0 }, nearest), errors: errors.map((e) => e.message) };
    };
    assert.deepEqual(credentials('[a]\nuser = 7000\ngroup = 7000\n'), { result: { uid: 7000, gid: 7000, label: '7000' }, errors: [] });
    assert.deepEqual(credentials('[a]\nuser = 7000\n'), {
      result: null,
      errors: ['uid 7000 could not be looked up (getpwuid_r: input/output error (EIO)), so its primary group is not known: set group too, or make the source /etc/nsswitch.conf names reachable'],
    });
  });

  test('filesSource answers from a table, as where NSS cannot be had', async () => {
    const source = filesSource(HINTS);
    assert.deepEqual(await source.getpwnam('git'), { name: 'git', uid: 1001, gid: 1001 });
    assert.deepEqual(await source.getpwuid(0), { name: 'root', uid: 0, gid: 0 });
    assert.equal(await source.getgrnam('nogroup-here'), null);
  });
});

describe('sys/nss.ts: the real NSS calls, on the pool', { skip: process.platform !== 'linux' }, () => {
  test('root is uid 0 and group 0 everywhere; a name no one has is null, not an error', async (t) => {
    const nss = loadNss();
    if (nss instanceof Error) return t.skip(`no native layer: ${nss.message}`);
    assert.deepEqual(await nss.getpwnam('root'), { name: 'root', uid: 0, gid: 0 });
    assert.deepEqual(await nss.getpwuid(0), { name: 'root', uid: 0, gid: 0 });
    assert.equal((await nss.getgrnam('root') as GroupEntry | null)?.gid, 0);
    assert.equal(await nss.getpwnam('no-such-user-superd-test'), null);
    assert.equal(await nss.getpwuid(4_000_000_000), null);
    assert.equal(await nss.getgrnam('no-such-group-superd-test'), null);
  });
});
