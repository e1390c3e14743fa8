// One scanned [section] -> one ServiceDefinition, or the reasons it is not one.
// Every key of SPEC §2 is parsed here, with its default; keys that only make
// sense together are checked together. Errors name the line of the key at
// fault (the section's line when a key is missing) and say what would be right.
//
// Users, groups and port names come from the system files, read once per load
// (`loadUserDb`, `loadPortDb`) and passed in, so validation stays synchronous
// and tests can inject their own.

import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { configError, fail, ok, type ConfigError, type Result } from '../errors.js';
import type {
  BuiltinName,
  Credentials,
  Handler,
  Protocol,
  ServiceDefinition,
  StderrMode,
} from './types.js';
import { unquote, type ScannedSection } from './scan.js';
import { unsupported } from './support.js';
import { splitWords } from './words.js';

// ---------------------------------------------------------------------------
// System databases

export interface UserEntry {
  name: string;
  uid: number;
  gid: number;
}

export interface GroupEntry {
  name: string;
  gid: number;
}

export interface UserDb {
  users: UserEntry[];
  groups: GroupEntry[];
}

/** `name/tcp` or `name/udp` (aliases included) -> port, as in /etc/services. */
export type PortDb = ReadonlyMap<string, number>;

export interface ValidateContext {
  passwd: UserDb;
  ports: PortDb;
  /** superd's own uid and gid: a handler may only differ from them when superd is root. */
  selfUid: number;
  selfGid: number;
}

const isId = (s: string): boolean => /^\d+$/.test(s);

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

export async function loadUserDb(passwdFile = '/etc/passwd', groupFile = '/etc/group'): Promise<UserDb> {
  const [p, g] = await Promise.all([readOrEmpty(passwdFile), readOrEmpty(groupFile)]);
  return { users: parsePasswd(p), groups: parseGroup(g) };
}

export async function loadPortDb(servicesFile = '/etc/services'): Promise<PortDb> {
  return parseServices(await readOrEmpty(servicesFile));
}

// ---------------------------------------------------------------------------
// Keys and "did you mean"

export const KEYS = [
  'protocol', 'port', 'bind', 'path', 'socket_mode', 'wait', 'server', 'args', 'builtin',
  'user', 'group', 'max_children', 'queue', 'max_per_source', 'rate', 'rate_per_source',
  'only_from', 'no_access', 'env', 'pass_env', 'timeout', 'stderr', 'disabled',
] as const;
export type Key = (typeof KEYS)[number];

const isKey = (k: string): k is Key => (KEYS as readonly string[]).includes(k);

/**
 * What people bring from xinetd, FreeBSD inetd and systemd socket units.
 * Names are compared lower-cased with `-` as `_`.
 */
const SYNONYMS: ReadonlyMap<string, { key: Key | null; note?: string }> = new Map([
  ['instances', { key: 'max_children' }],
  ['maxconnections', { key: 'max_children' }],
  ['max_connections', { key: 'max_children' }],
  ['per_source', { key: 'max_per_source' }],
  ['maxconnectionspersource', { key: 'max_per_source' }],
  ['cps', { key: 'rate', note: 'rate counts new handlers per minute' }],
  ['server_args', { key: 'args' }],
  ['arguments', { key: 'args' }],
  ['socket_type', { key: 'protocol', note: 'stream is protocol = tcp, dgram is protocol = udp' }],
  ['type', { key: 'builtin', note: "xinetd's INTERNAL services are builtin = echo and the like" }],
  ['interface', { key: 'bind' }],
  ['listen', { key: 'bind' }],
  ['address', { key: 'bind' }],
  ['listenstream', { key: 'port', note: 'tcp is port (and bind), unix sockets are path' }],
  ['listendatagram', { key: 'port', note: 'with protocol = udp' }],
  ['socket', { key: 'path' }],
  ['socketmode', { key: 'socket_mode' }],
  ['mode', { key: 'socket_mode' }],
  ['passenv', { key: 'pass_env' }],
  ['environment', { key: 'env' }],
  ['setenv', { key: 'env' }],
  ['program', { key: 'server' }],
  ['command', { key: 'server' }],
  ['exec', { key: 'server' }],
  ['execstart', { key: 'server', note: 'and the arguments in args' }],
  ['uid', { key: 'user' }],
  ['gid', { key: 'group' }],
  ['disable', { key: 'disabled' }],
  ['enabled', { key: 'disabled', note: 'disabled = yes turns a service off' }],
  ['accept', { key: 'wait', note: "systemd's Accept=yes is wait = no" }],
  ['backlog', { key: 'queue' }],
  ['standarderror', { key: 'stderr' }],
  ['log_on_success', { key: null, note: 'superd logs every accepted connection and every exit' }],
  ['log_on_failure', { key: null, note: 'superd logs every refused connection with its reason' }],
  ['log_type', { key: null, note: 'use the --log-file and --log-format options' }],
  ['banner', { key: null }],
  ['redirect', { key: null }],
  ['flags', { key: null }],
  ['id', { key: null, note: 'the section name is the service name' }],
  ['nice', { key: null }],
  ['umask', { key: null }],
  ['access_times', { key: null }],
]);

/** Optimal string alignment distance: Levenshtein that also counts a swap of neighbours as one. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => (d[i] as number[])[j] as number;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = v;
    }
  }
  return at(a.length, b.length);
}

/** The nearest candidate within a third of the word's length (at least 1), or null. */
export function nearest(word: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const dist = editDistance(word, c);
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return best;
}

export function unknownKeyMessage(key: string): string {
  const norm = key.toLowerCase().replace(/-/g, '_');
  const direct = isKey(norm) ? norm : null;
  const guess = direct ?? (SYNONYMS.has(norm) ? norm : nearest(norm, [...KEYS, ...SYNONYMS.keys()]));
  const head = `unknown key '${key}'`;
  if (guess === null) return `${head} (known keys: ${KEYS.join(', ')})`;
  if (isKey(guess)) return `${head} (did you mean '${guess}'?)`;
  const syn = SYNONYMS.get(guess);
  if (syn === undefined) return head;
  if (syn.key === null) {
    return `${head} (superd has no equivalent of '${guess}'${syn.note ? `: ${syn.note}` : ''})`;
  }
  return `${head} (did you mean '${syn.key}'?${syn.note ? ` ${syn.note}` : ''})`;
}

// ---------------------------------------------------------------------------
// Value parsers: each returns the value or the whole message for the operator.

type Parsed<T> = Result<T, string>;

const got = (v: string): string => `, got '${v}'`;

const BOOLEANS: ReadonlyMap<string, boolean> = new Map([
  ['yes', true], ['true', true], ['on', true], ['1', true],
  ['no', false], ['false', false], ['off', false], ['0', false],
]);

function parseBool(key: string, v: string): Parsed<boolean> {
  const b = BOOLEANS.get(v.toLowerCase());
  return b === undefined ? fail(`${key} must be yes or no (or true/false, on/off, 1/0)${got(v)}`) : ok(b);
}

function parseEnum<T extends string>(key: string, v: string, allowed: readonly T[]): Parsed<T> {
  const lower = v.toLowerCase();
  const found = allowed.find((a) => a === lower);
  return found === undefined ? fail(`${key} must be one of ${allowed.join(', ')}${got(v)}`) : ok(found);
}

function parseInteger(key: string, v: string, min: number): Parsed<number> {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) {
    return fail(`${key} must be a whole number of at least ${min}${got(v)}`);
  }
  return ok(n);
}

function parseSeconds(key: string, v: string): Parsed<number> {
  const n = Number(v);
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(v) || !Number.isFinite(n) || n <= 0) {
    return fail(`${key} must be a positive number of seconds, like 30 or 2.5${got(v)}`);
  }
  return ok(n);
}

function parseSocketMode(v: string): Parsed<number> {
  const n = parseInt(v, 8);
  if (!/^[0-7]{3,4}$/.test(v) || n > 0o777) {
    return fail(`socket_mode must be octal permissions like 0660 (at most 0777)${got(v)}`);
  }
  return ok(n);
}

type Transport = 'tcp' | 'udp';

function parsePort(v: string, transport: Transport, ports: PortDb): Parsed<number> {
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

function parseBind(v: string, protocol: Protocol): Parsed<string> {
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

function parseSocketPath(v: string): Parsed<string> {
  if (!path.isAbsolute(v)) return fail(`path must be an absolute path like /run/superd/NAME.sock${got(v)}`);
  if (Buffer.byteLength(v) > SUN_PATH_MAX) {
    return fail(`path must be at most ${SUN_PATH_MAX} bytes long, the limit of a unix socket address${got(v)}`);
  }
  return ok(v);
}

function parseProgram(v: string): Parsed<string> {
  return path.isAbsolute(v)
    ? ok(v)
    : fail(`server must be the absolute path of a program, like /usr/sbin/in.tftpd (there is no PATH search)${got(v)}`);
}

function parseAddressList(key: string, v: string): Parsed<string[]> {
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

function parseWordList(key: string, v: string, check: (word: string) => string | null): Parsed<string[]> {
  const split = splitWords(v);
  if (!split.ok) return fail(`${key}: ${split.error.message}`);
  for (const w of split.value) {
    const problem = check(w);
    if (problem !== null) return fail(`${key}: ${problem}${got(w)}`);
  }
  return ok(split.value);
}

function checkEnvAssignment(w: string): string | null {
  const eq = w.indexOf('=');
  return eq > 0 && ENV_NAME.test(w.slice(0, eq))
    ? null
    : 'each word must be NAME=value, NAME made of letters, digits and _ and not starting with a digit (quote values with spaces)';
}

function checkEnvName(w: string): string | null {
  return ENV_NAME.test(w) ? null : 'each word must be a variable name: letters, digits and _, not starting with a digit';
}

// ---------------------------------------------------------------------------
// Users and groups

interface ResolvedUser {
  uid: number;
  /** Primary group; null for a numeric uid that /etc/passwd does not know. */
  gid: number | null;
  label: string;
}

function resolveUser(v: string, db: UserDb): Parsed<ResolvedUser> {
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

function resolveGroup(v: string, db: UserDb): Parsed<number> {
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

function selfLabel(ctx: ValidateContext): string {
  const me = ctx.passwd.users.find((u) => u.uid === ctx.selfUid);
  return me ? `${me.name}(${ctx.selfUid})` : String(ctx.selfUid);
}

// ---------------------------------------------------------------------------
// The section

export interface SectionResult {
  definition: ServiceDefinition | null;
  errors: ConfigError[];
  /** key -> line, for the keys the section sets. */
  keyLines: Map<string, number>;
}

const PROTOCOLS: readonly Protocol[] = ['tcp', 'tcp4', 'tcp6', 'udp', 'udp4', 'udp6', 'unix'];
const BUILTINS: readonly BuiltinName[] = ['echo', 'discard', 'chargen', 'daytime', 'time'];
const STDERR_MODES: readonly StderrMode[] = ['log', 'socket', 'null'];
/** Keys about the handler process, meaningless when superd serves the service itself. */
const PROCESS_KEYS: readonly Key[] = ['args', 'user', 'group', 'env', 'pass_env', 'stderr'];
/** Their quotes belong to word splitting, not to the INI convention. */
const WORD_KEYS: readonly Key[] = ['args', 'env', 'pass_env'];

/** Access to one section's known keys, recording errors as it goes. */
interface Reader {
  raw: ReadonlyMap<Key, string>;
  has(key: Key): boolean;
  /** The parsed value, the default when absent, or the default after reporting a bad value. */
  field<T>(key: Key, fallback: T, parse: (v: string) => Parsed<T>): T;
  /** At the key's line, or the section's line when key is null (a missing key). */
  report(code: string, key: Key | null, message: string): void;
}

/** SPEC §2 and nothing else: whether the daemon supports it yet is `validateSection`'s concern. */
export function parseSection(file: string, section: ScannedSection, ctx: ValidateContext): SectionResult {
  const errors: ConfigError[] = [];
  const keyLines = new Map<string, number>();
  const raw = new Map<Key, string>();
  for (const e of section.entries) {
    if (isKey(e.key)) {
      raw.set(e.key, WORD_KEYS.includes(e.key) ? e.value : unquote(e.value));
      keyLines.set(e.key, e.line);
    } else {
      errors.push(configError('unknown_key', file, e.line, section.name, unknownKeyMessage(e.key)));
    }
  }

  const r: Reader = {
    raw,
    has: (key) => raw.has(key),
    report(code, key, message) {
      const line = key === null ? section.line : (keyLines.get(key) ?? section.line);
      errors.push(configError(code, file, line, section.name, message));
    },
    field(key, fallback, parse) {
      const v = raw.get(key);
      if (v === undefined) return fallback;
      const parsed = parse(v);
      if (parsed.ok) return parsed.value;
      r.report('bad_value', key, parsed.error);
      return fallback;
    },
  };

  const listen = readListen(r, ctx.ports);
  const handler = readHandler(r, listen.protocol);
  const wait = r.field('wait', listen.transport === 'udp', (v) => parseBool('wait', v));
  if (listen.transport === 'udp' && r.has('server') && !wait) {
    r.report('bad_combination', 'wait',
      'a udp service with a server must be wait = yes: a nowait datagram handler would be started for every datagram');
  }
  const credentials = resolveCredentials(r, ctx);
  const rest = {
    maxChildren: r.field('max_children', 256, (v) => parseInteger('max_children', v, 1)),
    queue: r.field('queue', 128, (v) => parseInteger('queue', v, 0)),
    maxPerSource: r.field<number | null>('max_per_source', null, (v) => parseInteger('max_per_source', v, 1)),
    rate: r.field<number | null>('rate', null, (v) => parseInteger('rate', v, 1)),
    ratePerSource: r.field<number | null>('rate_per_source', null, (v) => parseInteger('rate_per_source', v, 1)),
    onlyFrom: r.field<string[] | null>('only_from', null, (v) => parseAddressList('only_from', v)),
    noAccess: r.field<string[]>('no_access', [], (v) => (v === '' ? ok([]) : parseAddressList('no_access', v))),
    env: r.field<string[]>('env', [], (v) => parseWordList('env', v, checkEnvAssignment)),
    passEnv: r.field<string[]>('pass_env', [], (v) => parseWordList('pass_env', v, checkEnvName)),
    timeout: r.field<number | null>('timeout', null, (v) => parseSeconds('timeout', v)),
    stderr: r.field<StderrMode>('stderr', 'log', (v) => parseEnum('stderr', v, STDERR_MODES)),
    disabled: r.field('disabled', false, (v) => parseBool('disabled', v)),
  };

  if (errors.length > 0 || listen.protocol === null || handler === null) return { definition: null, errors, keyLines };
  const definition: ServiceDefinition = {
    name: section.name,
    origin: { file, line: section.line },
    protocol: listen.protocol,
    port: listen.port,
    bind: listen.bind,
    path: listen.path,
    socketMode: listen.socketMode,
    wait,
    handler,
    credentials,
    ...rest,
  };
  return { definition, errors, keyLines };
}

interface Listen {
  /** null when the protocol itself is bad. */
  protocol: Protocol | null;
  transport: Transport | 'unix' | null;
  port: number | null;
  bind: string | null;
  path: string | null;
  socketMode: number;
}

function readListen(r: Reader, ports: PortDb): Listen {
  const listen: Listen = { protocol: null, transport: null, port: null, bind: null, path: null, socketMode: 0o666 };
  const protocol = r.field<Protocol | null>('protocol', 'tcp', (v) => parseEnum('protocol', v, PROTOCOLS));
  // With an unknown protocol we cannot tell which keys belong, so we do not
  // pile guesses on top of that one error.
  if (protocol === null) return listen;
  listen.protocol = protocol;

  if (protocol === 'unix') {
    listen.transport = 'unix';
    for (const k of ['port', 'bind'] as const) {
      if (r.has(k)) r.report('bad_combination', k, `${k} is for tcp and udp services; a unix service listens on path`);
    }
    if (r.has('path')) listen.path = r.field<string | null>('path', null, parseSocketPath);
    else r.report('missing_key', null, 'protocol = unix needs path = /absolute/path/of/the.sock');
    listen.socketMode = r.field('socket_mode', listen.socketMode, parseSocketMode);
    return listen;
  }

  const transport: Transport = protocol.startsWith('udp') ? 'udp' : 'tcp';
  listen.transport = transport;
  if (r.has('path')) r.report('bad_combination', 'path', `path is for protocol = unix; a ${protocol} service listens on port`);
  if (r.has('socket_mode')) r.report('bad_combination', 'socket_mode', 'socket_mode is for protocol = unix only');
  if (r.has('port')) listen.port = r.field<number | null>('port', null, (v) => parsePort(v, transport, ports));
  else r.report('missing_key', null, `a ${protocol} service needs port = 1-65535 or a service name from /etc/services`);
  listen.bind = r.field<string | null>('bind', null, (v) => parseBind(v, protocol));
  return listen;
}

function readHandler(r: Reader, protocol: Protocol | null): Handler | null {
  if (r.has('server') && r.has('builtin')) {
    r.report('bad_combination', 'builtin', 'set exactly one of server and builtin, not both');
    return null;
  }
  if (r.has('server')) {
    const program = r.field<string | null>('server', null, parseProgram);
    const args = r.field<string[]>('args', [], (v) => parseWordList('args', v, () => null));
    return program === null ? null : { kind: 'server', program, argv: [path.basename(program), ...args] };
  }
  if (r.has('builtin')) {
    for (const k of PROCESS_KEYS) {
      if (r.has(k)) {
        r.report('bad_combination', k, `${k} has no effect with builtin: builtins run inside superd, no program is started`);
      }
    }
    if (protocol === 'unix') r.report('bad_combination', 'builtin', 'builtins are served over tcp and udp only');
    const name = r.field<BuiltinName | null>('builtin', null, (v) => parseEnum('builtin', v, BUILTINS));
    return name === null ? null : { kind: 'builtin', name };
  }
  r.report('missing_key', null, `set server = /absolute/path/of/program or builtin = ${BUILTINS.join('|')}`);
  return null;
}

function resolveCredentials(r: Reader, ctx: ValidateContext): Credentials | null {
  const userText = r.raw.get('user');
  const groupText = r.raw.get('group');
  if (userText === undefined && groupText === undefined) return null;

  let user: ResolvedUser | null = null;
  if (userText !== undefined) {
    const resolved = resolveUser(userText, ctx.passwd);
    if (!resolved.ok) {
      r.report('bad_value', 'user', resolved.error);
      return null;
    }
    user = resolved.value;
  }
  let gid: number | null = null;
  if (groupText !== undefined) {
    const resolved = resolveGroup(groupText, ctx.passwd);
    if (!resolved.ok) {
      r.report('bad_value', 'group', resolved.error);
      return null;
    }
    gid = resolved.value;
  }

  const root = ctx.selfUid === 0;
  if (!root && user !== null && user.uid !== ctx.selfUid) {
    r.report('needs_root', 'user', `user '${userText}' needs superd to run as root (it runs as uid ${ctx.selfUid})`);
    return null;
  }
  if (!root && gid !== null && gid !== ctx.selfGid) {
    r.report('needs_root', 'group', `group '${groupText}' needs superd to run as root (it runs as gid ${ctx.selfGid})`);
    return null;
  }

  if (user === null) return { uid: ctx.selfUid, gid: gid ?? ctx.selfGid, label: selfLabel(ctx) };
  // Without root superd cannot change groups, so its own gid is the only one that works.
  const primary = root ? user.gid : ctx.selfGid;
  const finalGid = gid ?? primary;
  if (finalGid === null) {
    r.report('missing_key', 'user', `uid ${user.uid} is not in /etc/passwd, so it has no primary group: set group too`);
    return null;
  }
  return { uid: user.uid, gid: finalGid, label: user.label };
}

/** SPEC §2 validation, then the refusal of what the daemon cannot serve yet. */
export function validateSection(file: string, section: ScannedSection, ctx: ValidateContext): SectionResult {
  const result = parseSection(file, section, ctx);
  // A disabled service is never served, so what it would need does not matter yet.
  if (result.definition === null || result.definition.disabled) return result;
  const missing = unsupported(result.definition, result.keyLines);
  return missing.length === 0 ? result : { definition: null, errors: missing, keyLines: result.keyLines };
}

/**
 * For `superd check`: whether `server` can be started. The daemon does not
 * refuse a service for it (the program may be installed later); it logs
 * spawn_failed per connection instead. Returns the problem, or null.
 */
export async function checkProgram(program: string): Promise<string | null> {
  try {
    const st = await stat(program);
    if (!st.isFile()) return `server '${program}' is not a regular file`;
    await access(program, constants.X_OK);
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `server '${program}' does not exist`;
    if (code === 'EACCES') return `server '${program}' is not executable: chmod +x ${program}`;
    return `server '${program}' cannot be checked: ${(e as Error).message}`;
  }
}
