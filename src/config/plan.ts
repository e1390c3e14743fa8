// What a reload must do (SPEC §4), decided without touching a socket: which
// services to add, change, remove and leave alone. The running services apply
// it (service/set.ts); what runs afterwards is `unchanged`, `add` and each
// `change`'s `to`.

import { configError, type ConfigError } from '../errors.js';
import { describeAddress, listenKey, type ServiceDefinition } from './types.js';
import type { LoadResult } from './load.js';
import { listenConflict } from './overlap.js';

export interface ReloadPlan {
  add: ServiceDefinition[];
  /** rebind: the listen address differs, so a new socket is needed. */
  change: { from: ServiceDefinition; to: ServiceDefinition; rebind: boolean }[];
  remove: ServiceDefinition[];
  /** A clean file's definition (its origin may have moved), or the current one kept. */
  unchanged: ServiceDefinition[];
  /** All errors of the load, and the clashes found here. */
  errors: ConfigError[];
}

export function planReload(current: ReadonlyMap<string, ServiceDefinition>, load: LoadResult): ReloadPlan {
  if (load.fatal !== null) {
    return { add: [], change: [], remove: [], unchanged: [...current.values()], errors: [load.fatal] };
  }
  const errors = load.files.flatMap((f) => f.errors);
  const { next, clashes } = nextActiveSet(current, load);
  errors.push(...clashes);

  const plan: ReloadPlan = { add: [], change: [], remove: [], unchanged: [], errors };
  for (const def of next.values()) {
    const from = current.get(def.name);
    if (from === undefined) plan.add.push(def);
    else if (sameDefinition(from, def)) plan.unchanged.push(def);
    else plan.change.push({ from, to: def, rebind: listenKey(from) !== listenKey(def) });
  }
  for (const def of current.values()) {
    if (!next.has(def.name)) plan.remove.push(def);
  }
  return plan;
}

/**
 * A file with errors keeps what it runs now and adds nothing. Its kept
 * services may clash (name or address) with a clean file's new ones, which the
 * load could not know about; such a clean file is then in error too and keeps
 * its own current services, which may clash in turn: repeat until stable.
 * Files only ever become broken, so this ends.
 */
function nextActiveSet(
  current: ReadonlyMap<string, ServiceDefinition>,
  load: LoadResult,
): { next: Map<string, ServiceDefinition>; clashes: ConfigError[] } {
  const broken = new Set(load.files.filter((f) => f.errors.length > 0).map((f) => f.file));
  const clashes: ConfigError[] = [];
  for (;;) {
    const kept = [...current.values()].filter((d) => broken.has(d.origin.file));
    let settled = true;
    for (const f of load.files) {
      if (broken.has(f.file)) continue;
      for (const def of f.services.filter((d) => !d.disabled)) {
        const holder = kept.find((k) => k.name === def.name || listenConflict(k, def));
        if (holder === undefined) continue;
        clashes.push(clashError(def, holder));
        broken.add(f.file);
        settled = false;
      }
    }
    if (!settled) continue;
    const next = new Map(kept.map((d) => [d.name, d]));
    for (const f of load.files) {
      if (broken.has(f.file)) continue;
      for (const def of f.services) if (!def.disabled) next.set(def.name, def);
    }
    return { next, clashes };
  }
}

function clashError(def: ServiceDefinition, holder: ServiceDefinition): ConfigError {
  const what = holder.name === def.name ? `service name '${def.name}'` : `listen address ${describeAddress(def)}`;
  return configError(
    'conflict',
    def.origin.file,
    def.origin.line,
    def.name,
    `${what} is still held by [${holder.name}] (${describeAddress(holder)}), kept as it was because ` +
      `${holder.origin.file} has errors: fix that file first`,
  );
}

/** Equal in everything but `origin`: a section that merely moved is not a change. */
export function sameDefinition(a: ServiceDefinition, b: ServiceDefinition): boolean {
  return deepEqual({ ...a, origin: null }, { ...b, origin: null });
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every(
    (k) => Object.hasOwn(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}
