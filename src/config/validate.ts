// One scanned [section] -> one ServiceDefinition, or the reasons it is not one.
// Every key of SPEC §2 is parsed here, with its default; keys that only make
// sense together are checked together. Errors name the line of the key at
// fault (the section's line when a key is missing) and say what would be right.
//
// Users, groups and port names come from the system files, read once per load
// (`loadUserDb`, `loadPortDb` in systemdb.ts) and passed in, so validation
// stays synchronous and tests can inject their own. The keys and their "did
// you mean" hints are in suggest.ts, the per-value parsers in values.ts.

import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { configError, ok, type ConfigError } from '../errors.js';
import type {
  BuiltinName,
  Credentials,
  Handler,
  Protocol,
  ServiceDefinition,
  StderrMode,
} from './types.js';
import { clip } from './clip.js';
import { unquote, type ScannedEntry, type ScannedSection } from './scan.js';
import { isKey, nearest, unknownKeyMessage, type Key, type Suggest } from './suggest.js';
import { userIndex, type PortDb, type UserDb } from './systemdb.js';
import {
  checkEnvAssignment,
  checkEnvName,
  parseAddressList,
  parseBind,
  parseBool,
  parseEnum,
  parseInteger,
  parsePort,
  parseProgram,
  parseSeconds,
  parseSocketMode,
  parseSocketPath,
  parseWordList,
  resolveGroup,
  resolveUser,
  type Parsed,
  type ResolvedUser,
  type Transport,
} from './values.js';

export interface ValidateContext {
  passwd: UserDb;
  ports: PortDb;
  /** superd's own uid and gid: a handler may only differ from them when superd is root. */
  selfUid: number;
  selfGid: number;
  /** "did you mean": default `nearest`; `noSuggestion` where the message will not be shown. */
  suggest?: Suggest;
}

function selfLabel(ctx: ValidateContext): string {
  const me = userIndex(ctx.passwd).userByUid.get(ctx.selfUid);
  return me ? `${me.name}(${ctx.selfUid})` : String(ctx.selfUid);
}

// ---------------------------------------------------------------------------
// The section

export interface SectionResult {
  definition: ServiceDefinition | null;
  errors: ConfigError[];
  /** Problems that do not stop the service (code `trailing_comment`). */
  warnings: ConfigError[];
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
  const warnings: ConfigError[] = [];
  const keyLines = new Map<string, number>();
  const raw = new Map<Key, string>();
  const suggest = ctx.suggest ?? nearest;
  for (const e of section.entries) {
    if (isKey(e.key)) {
      raw.set(e.key, WORD_KEYS.includes(e.key) ? e.value : unquote(e.value));
      keyLines.set(e.key, e.line);
      const comment = trailingComment(e);
      if (comment !== null) warnings.push(configError('trailing_comment', file, e.line, section.name, comment));
    } else {
      errors.push(configError('unknown_key', file, e.line, section.name, unknownKeyMessage(e.key, suggest)));
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

  const listen = readListen(r, ctx.ports, suggest);
  const handler = readHandler(r, listen.protocol);
  const wait = r.field('wait', listen.transport === 'udp', (v) => parseBool('wait', v));
  if (listen.transport === 'udp' && r.has('server') && !wait) {
    r.report('bad_combination', 'wait',
      'a udp service with a server must be wait = yes: a nowait datagram handler would be started for every datagram');
  }
  checkPolicyFits(r, listen.transport, wait && handler?.kind === 'server');
  const credentials = resolveCredentials(r, ctx, suggest);
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

  if (errors.length > 0 || listen.protocol === null || handler === null) return { definition: null, errors, warnings, keyLines };
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
  return { definition, errors, warnings, keyLines };
}

/**
 * SPEC §2: a comment is a whole line, so `args = -v # debug` passes `#` and
 * `debug` on. That is allowed (`--url http://h/#top`), but a blank before the
 * `#` or `;` is usually a comment put on the wrong line: say so.
 */
function trailingComment(e: ScannedEntry): string | null {
  const m = /\s[#;]/.exec(e.value);
  if (m === null) return null;
  const tail = e.value.slice(m.index + 1);
  return `'${clip(tail)}' is part of the value of ${e.key}: superd has no comments at the end of a line (put it on a line of its own)`;
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

function readListen(r: Reader, ports: PortDb, suggest: Suggest): Listen {
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
  if (r.has('port')) listen.port = r.field<number | null>('port', null, (v) => parsePort(v, transport, ports, suggest));
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

function resolveCredentials(r: Reader, ctx: ValidateContext, suggest: Suggest): Credentials | null {
  const userText = r.raw.get('user');
  const groupText = r.raw.get('group');
  if (userText === undefined && groupText === undefined) return null;

  let user: ResolvedUser | null = null;
  if (userText !== undefined) {
    const resolved = resolveUser(userText, ctx.passwd, suggest);
    if (!resolved.ok) {
      r.report('bad_value', 'user', resolved.error);
      return null;
    }
    user = resolved.value;
  }
  let gid: number | null = null;
  if (groupText !== undefined) {
    const resolved = resolveGroup(groupText, ctx.passwd, suggest);
    if (!resolved.ok) {
      r.report('bad_value', 'group', resolved.error);
      return null;
    }
    gid = resolved.value;
  }

  const root = ctx.selfUid === 0;
  if (!root && user !== null && user.uid !== ctx.selfUid) {
    r.report('needs_root', 'user', `user '${clip(userText ?? '')}' needs superd to run as root (it runs as uid ${ctx.selfUid})`);
    return null;
  }
  if (!root && gid !== null && gid !== ctx.selfGid) {
    r.report('needs_root', 'group', `group '${clip(groupText ?? '')}' needs superd to run as root (it runs as gid ${ctx.selfGid})`);
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

/** SPEC §2 validation of one section: every key the SPEC names is served. */
export const validateSection = parseSection;

/**
 * Whether `server` can be started: a config error when the file is read, for
 * `check` and the daemon alike (config/load.ts). A program removed later is
 * spawn_failed per connection. Returns the problem, or null.
 */
export async function checkProgram(program: string): Promise<string | null> {
  const shown = clip(program);
  try {
    const st = await stat(program);
    if (!st.isFile()) return `server '${shown}' is not a regular file`;
    await access(program, constants.X_OK);
    return null;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') return `server '${shown}' does not exist`;
    if (err.code === 'EACCES') return `server '${shown}' is not executable: chmod +x ${program}`;
    // Node's message repeats the whole path: the code says enough.
    return `server '${shown}' cannot be checked: ${err.code ?? clip(err.message)}`;
  }
}

const SOURCE_KEYS = ['only_from', 'no_access', 'max_per_source', 'rate_per_source'] as const;

/** The per-source keys need a remote address that superd sees (SPEC §2). */
function checkPolicyFits(r: Reader, transport: Listen['transport'], waitProgram: boolean): void {
  for (const key of SOURCE_KEYS) {
    if (!r.has(key)) continue;
    if (transport === 'unix') {
      r.report('bad_combination', key, `${key} needs a remote address, and a unix socket's clients have none`);
    } else if (transport === 'tcp' && waitProgram) {
      r.report('bad_combination', key,
        `${key} cannot apply to a tcp wait service: its handler accepts the connections itself, superd never sees them`);
    } else if (transport === 'udp' && key === 'max_per_source') {
      r.report('bad_combination', key, 'max_per_source counts connections, and udp has none: use rate_per_source');
    }
  }
}
