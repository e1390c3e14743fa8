// The capability sets superd runs with (capabilities(7)), read once at start.
//
// An exec keeps two of a process's sets for the program it runs: the
// inheritable set (a program whose file names inheritable capabilities gains
// those) and, since Linux 4.3, the ambient set (every program that is not
// set-user-ID or file-capable gains all of it). A superd that runs as an
// ordinary user with systemd's AmbientCapabilities=CAP_NET_BIND_SERVICE has
// both, and a handler started directly would get them. Capabilities are per
// thread and handlers are started from libuv's pool threads, so superd does
// not clear its own sets (which `superd upgrade`, a re-exec, needs anyway):
// such handlers are started through setpriv, which clears them (spawner.ts).
import { readFile } from 'node:fs/promises';

export interface CapabilitySets {
  inheritable: bigint;
  permitted: bigint;
  effective: bigint;
  bounding: bigint;
  /** null: the kernel has no ambient set (before Linux 4.3). */
  ambient: bigint | null;
}

const FIELDS = { CapInh: 'inheritable', CapPrm: 'permitted', CapEff: 'effective', CapBnd: 'bounding', CapAmb: 'ambient' } as const;

/** The Cap* lines of a /proc/PID/status text, or what is wrong with them. */
export function parseCapabilities(status: string): CapabilitySets | Error {
  const found = new Map<string, bigint>();
  for (const line of status.split('\n')) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    if (colon < 0 || !Object.hasOwn(FIELDS, name)) continue;
    const value = line.slice(colon + 1).trim();
    if (!/^[0-9a-fA-F]{1,16}$/.test(value)) return new Error(`unreadable ${name} line in /proc/self/status: ${JSON.stringify(line)}`);
    found.set(name, BigInt(`0x${value}`));
  }
  const missing = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd'].filter((name) => !found.has(name));
  if (missing.length > 0) return new Error(`no ${missing.join(', ')} in /proc/self/status`);
  const sets: CapabilitySets = { inheritable: 0n, permitted: 0n, effective: 0n, bounding: 0n, ambient: null };
  for (const [name, value] of found) sets[FIELDS[name as keyof typeof FIELDS]] = value;
  return sets;
}

/** superd's own sets (those of its main thread, which every pool thread copied when it was made). */
export async function ownCapabilities(path = '/proc/self/status'): Promise<CapabilitySets | Error> {
  try {
    return parseCapabilities(await readFile(path, 'utf8'));
  } catch (err) {
    return new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/**
 * What a program superd executes keeps of superd's capabilities, as the
 * /proc lines say it (`CapInh=0000000000000400 CapAmb=0000000000000400`), or
 * null when nothing. Only for a superd that is not root: root's handlers are
 * root or are switched through setpriv, which clears both sets anyway.
 */
export function passedOnByExec(sets: CapabilitySets): string | null {
  const passed: string[] = [];
  if (sets.inheritable !== 0n) passed.push(`CapInh=${hex(sets.inheritable)}`);
  if (sets.ambient !== null && sets.ambient !== 0n) passed.push(`CapAmb=${hex(sets.ambient)}`);
  return passed.length > 0 ? passed.join(' ') : null;
}

function hex(set: bigint): string {
  return set.toString(16).padStart(16, '0');
}
