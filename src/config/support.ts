// What SPEC §2 allows but the daemon does not serve yet. A service using one of
// these is refused as a config error, by `check` and by the daemon alike,
// rather than accepted and then served wrongly. When a feature lands, delete
// its row.

import { configError, type ConfigError } from '../errors.js';
import type { ServiceDefinition } from './types.js';

interface NotYet {
  key: string;
  /** The value as the operator would write it, when the definition uses the feature; else null. */
  uses: (def: ServiceDefinition) => string | null;
}

const NOT_YET: readonly NotYet[] = [
  { key: 'protocol', uses: (d) => (['udp', 'udp4', 'udp6', 'unix'].includes(d.protocol) ? d.protocol : null) },
  { key: 'wait', uses: (d) => (d.wait ? 'yes' : null) },
  { key: 'builtin', uses: (d) => (d.handler.kind === 'builtin' ? d.handler.name : null) },
  { key: 'only_from', uses: (d) => d.onlyFrom?.join(' ') ?? null },
  { key: 'no_access', uses: (d) => (d.noAccess.length > 0 ? d.noAccess.join(' ') : null) },
  { key: 'max_per_source', uses: (d) => (d.maxPerSource === null ? null : String(d.maxPerSource)) },
  { key: 'rate', uses: (d) => (d.rate === null ? null : String(d.rate)) },
  { key: 'rate_per_source', uses: (d) => (d.ratePerSource === null ? null : String(d.ratePerSource)) },
];

export function unsupported(def: ServiceDefinition, keyLines: Map<string, number>): ConfigError[] {
  const found = NOT_YET.flatMap(({ key, uses }) => {
    const value = uses(def);
    return value === null ? [] : [{ key, value, line: keyLines.get(key) }];
  });
  // A default can only be unsupported because of another key (udp makes wait
  // default to yes), so report defaults only when no written key explains it.
  const written = found.filter((f) => f.line !== undefined);
  return (written.length > 0 ? written : found).map(({ key, value, line }) =>
    configError('unsupported', def.origin.file, line ?? def.origin.line, def.name, `'${key} = ${value}' is not supported yet`),
  );
}
