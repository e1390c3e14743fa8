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
  { key: 'only_from', uses: (d) => d.onlyFrom?.join(' ') ?? null },
  { key: 'no_access', uses: (d) => (d.noAccess.length > 0 ? d.noAccess.join(' ') : null) },
  { key: 'max_per_source', uses: (d) => (d.maxPerSource === null ? null : String(d.maxPerSource)) },
  { key: 'rate', uses: (d) => (d.rate === null ? null : String(d.rate)) },
  { key: 'rate_per_source', uses: (d) => (d.ratePerSource === null ? null : String(d.ratePerSource)) },
];

export function unsupported(def: ServiceDefinition, keyLines: Map<string, number>): ConfigError[] {
  return NOT_YET.flatMap(({ key, uses }) => {
    const value = uses(def);
    if (value === null) return [];
    return [configError('unsupported', def.origin.file, keyLines.get(key) ?? def.origin.line, def.name, `'${key} = ${value}' is not supported yet`)];
  });
}
