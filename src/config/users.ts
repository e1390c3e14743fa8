// The users and groups a load needs, looked up through NSS before validation:
// every `user` and `group` the service files name (and superd's own uid),
// all at once, into a UserDb that validation reads synchronously. NSS answers
// as /etc/nsswitch.conf says (files, LDAP, sssd…), for `superd check` and the
// daemon alike. /etc/passwd and /etc/group are still read, for "did you mean"
// only: NSS itself is never enumerated (getpwent over a directory can be huge).
import { isSysError, type SysError } from '../sys/errors.js';
import { loadNss, type GroupEntry, type Lookup, type NssCalls, type PasswdEntry } from '../sys/nss.js';
import { scanIni, unquote } from './scan.js';
import { isId, loadUserDb, userIndex, type UserDb } from './systemdb.js';
import { MAX_ID } from './values.js';

/** What the service files name: user names, uids, group names (a numeric group needs no lookup). */
export interface WantedIds {
  userNames: Set<string>;
  uids: Set<number>;
  groupNames: Set<string>;
}

export const noneWanted = (): WantedIds => ({ userNames: new Set(), uids: new Set(), groupNames: new Set() });

/** Whom a lookup answers: NSS, or a UserDb read from files where NSS cannot be had. */
export type UserSource = NssCalls;

/** Lookups at once: each may hold a pool thread (a directory that does not answer), which handler spawns share. */
const CONCURRENT = 2;

/** Adds the `user` and `group` values of every section of text, as validation will read them (unquoted). */
export function addWanted(text: string, into: WantedIds): void {
  const { sections } = scanIni('', text, { push: () => undefined });
  for (const s of sections) {
    for (const e of s.entries) {
      if (e.key !== 'user' && e.key !== 'group') continue;
      const v = unquote(e.value);
      // A NUL would end the C string early: that name is no user, and never a lookup.
      if (v === '' || v.includes('\0')) continue;
      if (isId(v)) {
        if (e.key === 'user' && Number(v) <= MAX_ID) into.uids.add(Number(v));
      } else {
        (e.key === 'user' ? into.userNames : into.groupNames).add(v);
      }
    }
  }
}

/** The answers as a UserDb, in the order asked (whatever order they came in): found entries, failures with their reason, the hints' names. */
export async function resolveWanted(wanted: WantedIds, source: UserSource, hints: UserDb): Promise<UserDb> {
  const uids = [...wanted.uids];
  const userNames = [...wanted.userNames];
  const groupNames = [...wanted.groupNames];
  const byUid: Lookup<PasswdEntry>[] = [];
  const byName: Lookup<PasswdEntry>[] = [];
  const byGroupName: Lookup<GroupEntry>[] = [];
  await runAtMost(CONCURRENT, [
    ...uids.map((uid, i) => async () => void (byUid[i] = await source.getpwuid(uid))),
    ...userNames.map((name, i) => async () => void (byName[i] = await source.getpwnam(name))),
    ...groupNames.map((name, i) => async () => void (byGroupName[i] = await source.getgrnam(name))),
  ]);
  const failedUsers = new Map<string, string>();
  const failedGroups = new Map<string, string>();
  /** The entries found; `names`: keep the name as written, as a source may answer another spelling (sssd's case-insensitive names). */
  const found = <T extends { name: string }>(answers: Lookup<T>[], keys: (string | number)[], failed: Map<string, string>, names: boolean): T[] =>
    answers.flatMap((answer, i) => {
      const key = String(keys[i]);
      if (isSysError(answer)) failed.set(key, answer.message);
      return answer === null || isSysError(answer) ? [] : [names ? { ...answer, name: key } : answer];
    });
  // getpwuid's answers first: the first entry of a uid is the one a uid names.
  const users = [...found(byUid, uids, failedUsers, false), ...found(byName, userNames, failedUsers, true)];
  const groups = found(byGroupName, groupNames, failedGroups, true);
  const names = (entries: { name: string }[]): string[] => [...new Set(entries.map((e) => e.name))];
  return {
    users,
    groups,
    failed: { users: failedUsers, groups: failedGroups },
    // The files' names, and those NSS found for other services (a directory's users are in no file).
    hints: { users: names([...hints.users, ...users]), groups: names([...hints.groups, ...groups]) },
  };
}

/** Runs the jobs in order, at most `width` at once. */
async function runAtMost(width: number, jobs: (() => Promise<void>)[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let job = jobs[next++]; job !== undefined; job = jobs[next++]) await job();
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
}

/** Where NSS cannot be had (no native layer on this host): the files, as getpwnam's `files` source reads them. */
export function filesSource(db: UserDb): UserSource {
  const index = userIndex(db);
  return {
    getpwnam: async (name) => index.userByName.get(name) ?? null,
    getpwuid: async (uid) => index.userByUid.get(uid) ?? null,
    getgrnam: async (name) => index.groupByName.get(name) ?? null,
  };
}

let nss: NssCalls | SysError | undefined;

/** Resolves what the texts name, and selfUid, through NSS (the files where NSS cannot be had). */
export async function usersNamedIn(texts: readonly string[], selfUid: number): Promise<UserDb> {
  const wanted = noneWanted();
  wanted.uids.add(selfUid);
  for (const text of texts) addWanted(text, wanted);
  const files = await loadUserDb();
  nss ??= loadNss();
  return resolveWanted(wanted, isSysError(nss) ? filesSource(files) : nss, files);
}
