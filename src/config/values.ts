// Value parsers: each returns the value or the whole message for the operator.

import { isIP } from 'node:net';
import path from 'node:path';
import { fail, ok, type Result } from '../errors.js';
import type { Protocol } from './types.js';
import { clip } from './clip.js';
import { nearest, type Suggest } from './suggest.js';
import { isId, userIndex, type PortDb, type UserDb } from './systemdb.js';
import { splitWords } from './words.js';

export type Parsed<T> = Result<T, string>;

const got = (v: string): string => `, got '${clip(v)}'`;

const BOOLEANS: ReadonlyMap<string, boolean> = new Map([
  ['yes', true], ['true', true], ['on', true], ['1', true],
  ['no', false], ['false', false], ['off', false], ['0', false],
]);

export function parseBool(key: string, v: string): Parsed<boolean> {
  const b = BOOLEANS.get(v.toLowerCase());
  return b === undefined ? fail(`${key} must be yes or no (or true/false, on/off, 1/0)${got(v)}`) : ok(b);
}

export function parseEnum<T extends string>(key: string, v: string, allowed: readonly T[]): Parsed<T> {
  const lower = v.toLowerCase();
  const found = allowed.find((a) => a === lower);
  return found === undefined ? fail(`${key} must be one of ${allowed.join(', ')}${got(v)}`) : ok(found);
}

export function parseInteger(key: string, v: string, min: number): Parsed<number> {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) {
    return fail(`${key} must be a whole number of at least ${min}${got(v)}`);
  }
  return ok(n);
}

/**
 * The longest delay Node's timers keep: past 2^31-1 ms a timer fires after
 * 1 ms instead (a `timeout` of 30 days would kill every handler at once).
 */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** Seconds that become a timer: positive and at most MAX_TIMER_SECONDS. */
export function parseSeconds(key: string, v: string): Parsed<number> {
  const n = Number(v);
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(v) || !Number.isFinite(n) || n <= 0) {
    return fail(`${key} must be a positive number of seconds, like 30 or 2.5${got(v)}`);
  }
  if (n > MAX_TIMER_SECONDS) {
    return fail(`${key} must be at most ${MAX_TIMER_SECONDS} seconds (24.8 days), the longest timer superd can set${got(v)}`);
  }
  return ok(n);
}

export function parseSocketMode(v: string): Parsed<number> {
  const n = parseInt(v, 8);
  if (!/^[0-7]{3,4}$/.test(v) || n > 0o777) {
    return fail(`socket_mode must be octal permissions like 0660 (at most 0777)${got(v)}`);
  }
  return ok(n);
}

export type Transport = 'tcp' | 'udp';

const isPort = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65535;

export function parsePort(v: string, transport: Transport, ports: PortDb, suggest: Suggest = nearest): Parsed<number> {
  const message = `port must be 1-65535 or a service name from /etc/services${got(v)}`;
  if (/^\d+$/.test(v)) return isPort(Number(v)) ? ok(Number(v)) : fail(message);
  const port = ports.get(`${v}/${transport}`);
  // /etc/services is a file like any other: a name it maps to 0 would bind a
  // random port, and one past 65535 makes listen() throw.
  if (port !== undefined) {
    return isPort(port)
      ? ok(port)
      : fail(`port '${clip(v)}' is ${port}/${transport} in /etc/services, which is not a port (1-65535): fix that entry or give the number`);
  }
  const suffix = `/${transport}`;
  const names = (function* () {
    for (const k of ports.keys()) if (k.endsWith(suffix)) yield k.slice(0, -suffix.length);
  })();
  const guess = suggest(v, names);
  return fail(guess === null ? message : `${message} (did you mean '${guess}'?)`);
}

/** Linux's buffer for an interface name, the NUL included. */
const IFNAMSIZ = 16;

export function parseBind(v: string, protocol: Protocol): Parsed<string> {
  const family = isIP(v);
  if (family === 0) {
    return fail(`bind must be an IPv4 or IPv6 address, like 127.0.0.1 or ::1 (host names are not resolved)${got(v)}`);
  }
  // isIP takes a zone of any length (`fe80::1%…`); the kernel's are interface
  // names of at most IFNAMSIZ-1 characters, and any other fails at every bind retry.
  const zone = v.indexOf('%');
  if (zone >= 0 && v.length - zone - 1 > IFNAMSIZ - 1) {
    return fail(`bind: the zone after '%' must be an interface name of at most ${IFNAMSIZ - 1} characters, like fe80::1%eth0${got(v)}`);
  }
  const wanted = protocol.endsWith('4') ? 4 : protocol.endsWith('6') ? 6 : family;
  if (family !== wanted) {
    return fail(
      `bind must be an IPv${wanted} address for protocol ${protocol}${got(v)}` +
        ` (use protocol = ${protocol.slice(0, 3)}${family} or ${protocol.slice(0, 3)})`,
    );
  }
  return ok(v);
}

/** Linux sun_path holds 108 bytes including the terminating NUL. */
const SUN_PATH_MAX = 107;

export function parseSocketPath(v: string): Parsed<string> {
  if (!path.isAbsolute(v)) return fail(`path must be an absolute path like /run/superd/NAME.sock${got(v)}`);
  if (Buffer.byteLength(v) > SUN_PATH_MAX) {
    return fail(`path must be at most ${SUN_PATH_MAX} bytes long, the limit of a unix socket address${got(v)}`);
  }
  return ok(v);
}

/** Linux PATH_MAX, the terminating NUL included: a longer path never reaches exec. */
const PATH_MAX = 4096;

export function parseProgram(v: string): Parsed<string> {
  if (!path.isAbsolute(v)) {
    return fail(`server must be the absolute path of a program, like /usr/sbin/in.tftpd (there is no PATH search)${got(v)}`);
  }
  return Buffer.byteLength(v) < PATH_MAX ? ok(v) : fail(`server must be a path of at most ${PATH_MAX - 1} bytes${got(v)}`);
}

export function parseAddressList(key: string, v: string): Parsed<string[]> {
  const items = v.split(/[\s,]+/).filter((s) => s !== '');
  if (items.length === 0) {
    return fail(`${key} needs at least one address or CIDR block, like 10.0.0.0/8 or ::1 (remove the key to allow everyone)`);
  }
  for (const item of items) {
    const slash = item.indexOf('/');
    const address = slash < 0 ? item : item.slice(0, slash);
    const family = isIP(address);
    if (family === 0) {
      return fail(`${key} takes IP addresses and CIDR blocks, like 192.168.1.0/24 or 2001:db8::/32 (host names are not resolved)${got(item)}`);
    }
    if (slash >= 0) {
      const prefix = item.slice(slash + 1);
      const max = family === 4 ? 32 : 128;
      if (!/^\d+$/.test(prefix) || Number(prefix) > max) {
        return fail(`${key}: the prefix length of an IPv${family} block must be 0-${max}${got(item)}`);
      }
    }
  }
  return ok(items);
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Linux MAX_ARG_STRLEN, the NUL included: exec refuses (E2BIG) an argument or variable this long. */
const MAX_ARG_BYTES = 128 * 1024;

export function parseWordList(key: string, v: string, check: (word: string) => string | null): Parsed<string[]> {
  const split = splitWords(v);
  if (!split.ok) return fail(`${key}: ${split.error.message}`);
  for (const w of split.value) {
    // Otherwise every connection would fail to start its handler, one log line each.
    if (Buffer.byteLength(w) >= MAX_ARG_BYTES) {
      return fail(`${key}: each word must be shorter than ${MAX_ARG_BYTES} bytes, the kernel's limit for one argument${got(w)}`);
    }
    const problem = check(w);
    if (problem !== null) return fail(`${key}: ${problem}${got(w)}`);
  }
  return ok(split.value);
}

export function checkEnvAssignment(w: string): string | null {
  const eq = w.indexOf('=');
  return eq > 0 && ENV_NAME.test(w.slice(0, eq))
    ? null
    : 'each word must be NAME=value, NAME made of letters, digits and _ and not starting with a digit (quote values with spaces)';
}

export function checkEnvName(w: string): string | null {
  return ENV_NAME.test(w) ? null : 'each word must be a variable name: letters, digits and _, not starting with a digit';
}

// ---------------------------------------------------------------------------
// Users and groups

export interface ResolvedUser {
  uid: number;
  /** Primary group; null for a numeric uid that no user has, or whose lookup failed. */
  gid: number | null;
  label: string;
  /** Why a numeric uid's lookup failed: only its primary group needed it. */
  lookupFailed?: string;
}

/**
 * uid_t and gid_t are 32 bits, and (uid_t)-1 means "leave unchanged" to
 * setresuid(): such an id would leave a root handler root.
 */
export const MAX_ID = 2 ** 32 - 2;
const isValidId = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= MAX_ID;

function badId(key: 'user' | 'group', v: string, what: 'uid' | 'gid', id: number): Parsed<never> {
  return fail(`${key} '${clip(v)}' has ${what} ${id} in the ${key} database, which no process can have (0-${MAX_ID}): fix that entry or give the number`);
}

/** A lookup that could not be answered is not "no such user": it says why. */
function lookupFailed(key: 'user' | 'group', v: string, why: string): Parsed<never> {
  return fail(`${key} '${clip(v)}' could not be looked up (${why}): is the source /etc/nsswitch.conf names for ${key}s (LDAP, sssd…) reachable?`);
}

function unknown(key: 'user' | 'group', v: string, names: Iterable<string>, suggest: Suggest): Parsed<never> {
  const guess = suggest(v, names);
  const what = key === 'user' ? 'user name the system knows (/etc/passwd, LDAP, sssd… as /etc/nsswitch.conf says) or a numeric uid' : 'group name the system knows (/etc/group, LDAP, sssd… as /etc/nsswitch.conf says) or a numeric gid';
  return fail(`${key} must be a ${what}${got(v)}${guess ? ` (did you mean '${guess}'?)` : ''}`);
}

export function resolveUser(v: string, db: UserDb, suggest: Suggest = nearest): Parsed<ResolvedUser> {
  const failed = db.failed?.users.get(v);
  if (isId(v)) {
    const uid = Number(v);
    if (!isValidId(uid)) return fail(`user: a numeric uid must be 0-${MAX_ID}${got(v)}`);
    if (failed !== undefined) return ok({ uid, gid: null, label: String(uid), lookupFailed: failed });
    const entry = userIndex(db).userByUid.get(uid);
    return ok({ uid, gid: entry?.gid ?? null, label: entry ? `${entry.name}(${uid})` : String(uid) });
  }
  if (failed !== undefined) return lookupFailed('user', v, failed);
  const entry = userIndex(db).userByName.get(v);
  if (entry === undefined) return unknown('user', v, db.hints?.users ?? userIndex(db).userByName.keys(), suggest);
  if (!isValidId(entry.uid)) return badId('user', v, 'uid', entry.uid);
  if (!isValidId(entry.gid)) return badId('user', v, 'gid', entry.gid);
  return ok({ uid: entry.uid, gid: entry.gid, label: `${entry.name}(${entry.uid})` });
}

export function resolveGroup(v: string, db: UserDb, suggest: Suggest = nearest): Parsed<number> {
  if (isId(v)) {
    const gid = Number(v);
    return isValidId(gid) ? ok(gid) : fail(`group: a numeric gid must be 0-${MAX_ID}${got(v)}`);
  }
  const failed = db.failed?.groups.get(v);
  if (failed !== undefined) return lookupFailed('group', v, failed);
  const entry = userIndex(db).groupByName.get(v);
  if (entry === undefined) return unknown('group', v, db.hints?.groups ?? userIndex(db).groupByName.keys(), suggest);
  return isValidId(entry.gid) ? ok(entry.gid) : badId('group', v, 'gid', entry.gid);
}
