// System databases: users and groups (as NSS answered them, users.ts; or
// /etc/passwd and /etc/group as read here), port names from /etc/services.
// Had once per load and passed to validation, so validation stays
// synchronous and tests can inject their own.

import { readFile } from 'node:fs/promises';
import type { GroupEntry, PasswdEntry as UserEntry } from '../sys/nss.js';

/** An entry as getpwnam or /etc/passwd gives it, and one of getgrnam or /etc/group: sys/nss.ts's. */
export type { PasswdEntry as UserEntry, GroupEntry } from '../sys/nss.js';

export interface UserDb {
  /** The users known: for a load, NSS's answers for those the service files name (users.ts); else a table (the files, a test's). */
  users: UserEntry[];
  groups: GroupEntry[];
  /** Lookups a source could not answer (LDAP down…), by the value as written (name or uid): why. */
  failed?: { users: ReadonlyMap<string, string>; groups: ReadonlyMap<string, string> };
  /** Names for "did you mean" (from /etc/passwd and /etc/group); default: those of users and groups. */
  hints?: { users: readonly string[]; groups: readonly string[] };
}

/** Lookups by name and by id: a search of the arrays per section is quadratic in a large file. */
export interface UserIndex {
  userByName: ReadonlyMap<string, UserEntry>;
  userByUid: ReadonlyMap<number, UserEntry>;
  groupByName: ReadonlyMap<string, GroupEntry>;
}

const indexes = new WeakMap<UserDb, UserIndex>();

/** Built once per database; the first entry of a name or id wins, as getpwnam's does. */
export function userIndex(db: UserDb): UserIndex {
  let index = indexes.get(db);
  if (index === undefined) {
    const first = <K, V>(pairs: [K, V][]): Map<K, V> => new Map(pairs.reverse());
    index = {
      userByName: first(db.users.map((u) => [u.name, u])),
      userByUid: first(db.users.map((u) => [u.uid, u])),
      groupByName: first(db.groups.map((g) => [g.name, g])),
    };
    indexes.set(db, index);
  }
  return index;
}

/** `name/tcp` or `name/udp` (aliases included) -> port, as in /etc/services. */
export type PortDb = ReadonlyMap<string, number>;

export const isId = (s: string): boolean => /^\d+$/.test(s);

export function parsePasswd(text: string): UserEntry[] {
  const users: UserEntry[] = [];
  for (const line of text.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    // Skips comments, blank lines and NIS `+`/`-` entries alike.
    if (name && uid !== undefined && gid !== undefined && isId(uid) && isId(gid)) {
      users.push({ name, uid: Number(uid), gid: Number(gid) });
    }
  }
  return users;
}

export function parseGroup(text: string): GroupEntry[] {
  const groups: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name && gid !== undefined && isId(gid)) groups.push({ name, gid: Number(gid) });
  }
  return groups;
}

export function parseServices(text: string): Map<string, number> {
  const ports = new Map<string, number>();
  for (const line of text.split('\n')) {
    const fields = line.replace(/#.*/, '').trim().split(/\s+/);
    const [name, portProto, ...aliases] = fields;
    const m = /^(\d+)\/(tcp|udp)$/.exec(portProto ?? '');
    if (!name || !m) continue;
    for (const n of [name, ...aliases]) {
      const k = `${n}/${m[2]}`;
      // getservbyname returns the first match; so do we.
      if (!ports.has(k)) ports.set(k, Number(m[1]));
    }
  }
  return ports;
}

/** A missing file reads as empty: every name is then unknown, which is reported per key. */
async function readOrEmpty(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return '';
  }
}

/** /etc/passwd and /etc/group as they are: "did you mean" hints, and `convert`'s view of the host. */
export async function loadUserDb(passwdFile = '/etc/passwd', groupFile = '/etc/group'): Promise<UserDb> {
  const [p, g] = await Promise.all([readOrEmpty(passwdFile), readOrEmpty(groupFile)]);
  return { users: parsePasswd(p), groups: parseGroup(g) };
}

export async function loadPortDb(servicesFile = '/etc/services'): Promise<PortDb> {
  return parseServices(await readOrEmpty(servicesFile));
}
