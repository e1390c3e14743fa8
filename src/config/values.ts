// Value parsers: each returns the value or the whole message for the operator.

import { isIP } from 'node:net';
import path from 'node:path';
import { fail, ok, type Result } from '../errors.js';
import type { Protocol } from './types.js';
import { nearest } from './suggest.js';
import { isId, type PortDb, type UserDb } from './systemdb.js';
import { splitWords } from './words.js';

export type Parsed<T> = Result<T, string>;

const got = (v: string): string => `, got '${v}'`;

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

export function parseSeconds(key: string, v: string): Parsed<number> {
  const n = Number(v);
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(v) || !Number.isFinite(n) || n <= 0) {
    return fail(`${key} must be a positive number of seconds, like 30 or 2.5${got(v)}`);
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

export function parsePort(v: string, transport: Transport, ports: PortDb): Parsed<number> {
  const message = `port must be 1-65535 or a service name from /etc/services${got(v)}`;
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    return n >= 1 && n <= 65535 ? ok(n) : fail(message);
  }
  const port = ports.get(`${v}/${transport}`);
  if (port !== undefined) return ok(port);
  const names = [...ports.keys()].filter((k) => k.endsWith(`/${transport}`)).map((k) => k.slice(0, -4));
  const guess = nearest(v, names);
  return fail(guess === null ? message : `${message} (did you mean '${guess}'?)`);
}

export function parseBind(v: string, protocol: Protocol): Parsed<string> {
  const family = isIP(v);
  if (family === 0) {
    return fail(`bind must be an IPv4 or IPv6 address, like 127.0.0.1 or ::1 (host names are not resolved)${got(v)}`);
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

export function parseProgram(v: string): Parsed<string> {
  return path.isAbsolute(v)
    ? ok(v)
    : fail(`server must be the absolute path of a program, like /usr/sbin/in.tftpd (there is no PATH search)${got(v)}`);
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

export function parseWordList(key: string, v: string, check: (word: string) => string | null): Parsed<string[]> {
  const split = splitWords(v);
  if (!split.ok) return fail(`${key}: ${split.error.message}`);
  for (const w of split.value) {
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
  /** Primary group; null for a numeric uid that /etc/passwd does not know. */
  gid: number | null;
  label: string;
}

export function resolveUser(v: string, db: UserDb): Parsed<ResolvedUser> {
  if (isId(v)) {
    const uid = Number(v);
    const entry = db.users.find((u) => u.uid === uid);
    return ok({ uid, gid: entry?.gid ?? null, label: entry ? `${entry.name}(${uid})` : String(uid) });
  }
  const entry = db.users.find((u) => u.name === v);
  if (entry === undefined) {
    const guess = nearest(v, db.users.map((u) => u.name));
    return fail(
      `user must be a user name from /etc/passwd or a numeric uid${got(v)}${guess ? ` (did you mean '${guess}'?)` : ''}`,
    );
  }
  return ok({ uid: entry.uid, gid: entry.gid, label: `${entry.name}(${entry.uid})` });
}

export function resolveGroup(v: string, db: UserDb): Parsed<number> {
  if (isId(v)) return ok(Number(v));
  const entry = db.groups.find((g) => g.name === v);
  if (entry === undefined) {
    const guess = nearest(v, db.groups.map((g) => g.name));
    return fail(
      `group must be a group name from /etc/group or a numeric gid${got(v)}${guess ? ` (did you mean '${guess}'?)` : ''}`,
    );
  }
  return ok(entry.gid);
}
