// One scanned [section] -> one ServiceDefinition, or the reasons it is not one.
// Every key of SPEC §2 is parsed, with its default; keys that only make sense
// together are checked together. Errors name the line of the key at fault
// (the section's line when a key is missing) and say what would be right.
//
// Users, groups and port names come from the system files, read once per load
// (`loadUserDb`, `loadPortDb` in systemdb.ts) and passed in, so validation
// stays synchronous and tests can inject their own. The section's entries are
// read in section-reader.ts; where it listens in listen-keys.ts, what serves
// it in handler-keys.ts, whom it runs as in credentials.ts; the keys and
// their "did you mean" hints are in suggest.ts, the per-value parsers in
// values.ts.

import { ok, type ConfigError } from '../errors.js';
import type { ServiceDefinition, StderrMode } from './types.js';
import { resolveCredentials } from './credentials.js';
import { readHandler } from './handler-keys.js';
import { readListen, type Listen } from './listen-keys.js';
import { readProxy } from './proxy-keys.js';
import { readTls } from './tls-keys.js';
import { readProcessSettings } from './process-keys.js';
import type { ProcessFacts } from './process-facts.js';
import type { ScannedSection } from './scan.js';
import { readSection, type Reader } from './section-reader.js';
import { nearest, type Suggest } from './suggest.js';
import type { PortDb, UserDb } from './systemdb.js';
import {
  checkEnvAssignment,
  checkEnvName,
  parseAddressList,
  parseBool,
  parseEnum,
  parseInteger,
  parseSeconds,
  parseWordList,
} from './values.js';

export interface ValidateContext {
  passwd: UserDb;
  ports: PortDb;
  /** superd's own uid and gid: a handler may only differ from them when superd is root. */
  selfUid: number;
  selfGid: number;
  /** What superd may do to a handler's process (process-facts.ts): settings it cannot apply are errors. */
  facts?: ProcessFacts;
  /** "did you mean": default `nearest`; `noSuggestion` where the message will not be shown. */
  suggest?: Suggest;
}

export interface SectionResult {
  definition: ServiceDefinition | null;
  errors: ConfigError[];
  /** Problems that do not stop the service (code `trailing_comment`). */
  warnings: ConfigError[];
  /** key -> line, for the keys the section sets. */
  keyLines: Map<string, number>;
}

const STDERR_MODES: readonly StderrMode[] = ['log', 'socket', 'null'];

/** SPEC §2 and nothing else: whether the daemon supports it yet is `validateSection`'s concern. */
export function parseSection(file: string, section: ScannedSection, ctx: ValidateContext): SectionResult {
  const suggest = ctx.suggest ?? nearest;
  const { reader: r, errors, warnings, keyLines } = readSection(file, section, suggest);
  const listen = readListen(r, ctx.ports, suggest);
  const handler = readHandler(r, listen.protocol);
  const wait = r.field('wait', listen.transport === 'udp', (v) => parseBool('wait', v));
  if (listen.transport === 'udp' && r.has('server') && !wait) {
    r.report('bad_combination', 'wait',
      'a udp service with a server must be wait = yes: a nowait datagram handler would be started for every datagram');
  }
  checkPolicyFits(r, listen.transport, wait && handler?.kind === 'server');
  const proxy = readProxy(r, listen.protocol, wait, handler);
  const tls = readTls(r, listen.protocol, wait, handler);
  const credentials = resolveCredentials(r, ctx, suggest);
  const settings = readProcessSettings(r, handler, credentials, ctx);
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
    proxy,
    ...(tls === null ? {} : { tls }),
    ...(settings === null ? {} : { settings }),
  };
  return { definition, errors, warnings, keyLines };
}

/** SPEC §2 validation of one section: every key the SPEC names is served. */
export const validateSection = parseSection;

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
