// Service names and listen addresses must be unique across the services dir:
// the later file (lexical order) is the one in error (load.ts).
import { conflictBucket, listenConflict } from './overlap.js';
import type { ServiceDefinition } from './types.js';

/**
 * The names and addresses taken so far, in file order. Addresses are kept by
 * transport and port (or socket path): only services there can overlap, so
 * each claim looks at a handful, and a directory of 10,000 services loads in
 * linear time.
 */
export class Claims {
  private readonly names = new Map<string, string>();
  private readonly listeners = new Map<string, ServiceDefinition[]>();

  /** Takes the name, or returns `file:line` of whoever has it. */
  claimName(name: string, file: string, line: number): string | null {
    const holder = this.names.get(name);
    if (holder !== undefined) return holder;
    this.names.set(name, `${file}:${line}`);
    return null;
  }

  /** Takes the address, or returns the service that has an overlapping one. */
  claimAddress(def: ServiceDefinition): ServiceDefinition | null {
    const key = conflictBucket(def);
    const bucket = this.listeners.get(key);
    const holder = bucket?.find((l) => listenConflict(l, def));
    if (holder !== undefined) return holder;
    if (bucket === undefined) this.listeners.set(key, [def]);
    else bucket.push(def);
    return null;
  }
}
