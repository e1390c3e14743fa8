// What superd may do to a handler's process, read once per load for
// process-keys.ts: whether it is root, its capabilities, its own hard limits
// and nice value, the kernel's fs.nr_open, and the trampolines it trusts.
// The parsers are pure; readProcessFacts reads /proc.
import { readFile } from 'node:fs/promises';
import { parseCapabilities } from '../spawn/capabilities.js';
import { findTools, type Tools } from '../spawn/trampolines.js';
import type { RlimitName } from './types.js';

export type { Tool } from '../spawn/trampolines.js';

export interface ProcessFacts {
  root: boolean;
  /** Raising a hard limit above superd's own needs it. */
  capSysResource: boolean;
  /** superd's own nice value. */
  ownNice: number;
  /** The lowest nice value superd can give a handler: −20 with CAP_SYS_NICE, else its own (or lower where its RLIMIT_NICE allows). */
  lowestNice: number;
  /** superd's own hard limits; a limit /proc did not show is not checked. */
  hard: Partial<Record<RlimitName, number | 'unlimited'>>;
  /** fs.nr_open: no process may have a higher RLIMIT_NOFILE; null when unreadable. */
  nrOpen: number | null;
  tools: Tools;
}

const CAP_SYS_NICE = 23n;
const CAP_SYS_RESOURCE = 24n;

/** /proc/PID/limits rows, by the name superd gives them (`nice` is RLIMIT_NICE). */
const ROWS: ReadonlyMap<string, RlimitName | 'nice'> = new Map([
  ['Max cpu time', 'cpu'], ['Max file size', 'fsize'], ['Max data size', 'data'], ['Max stack size', 'stack'],
  ['Max core file size', 'core'], ['Max processes', 'nproc'], ['Max open files', 'nofile'], ['Max address space', 'as'],
  ['Max nice priority', 'nice'],
]);

export type Limits = Partial<Record<RlimitName | 'nice', { soft: number | 'unlimited'; hard: number | 'unlimited' }>>;

/** The limits of a /proc/PID/limits text (sizes in bytes there). */
export function parseLimits(text: string): Limits {
  const out: Limits = {};
  const value = (w: string | undefined): number | 'unlimited' | null => (w === 'unlimited' ? 'unlimited' : w !== undefined && /^\d+$/.test(w) ? Number(w) : null);
  for (const line of text.split('\n')) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    const name = m === null ? undefined : ROWS.get(m[1] ?? '');
    if (m === null || name === undefined) continue;
    const soft = value(m[2]);
    const hard = value(m[3]);
    if (soft !== null && hard !== null) out[name] = { soft, hard };
  }
  return out;
}

/** Field 19 of a /proc/PID/stat text (after the command name, which may hold anything but ends at the last ')'). */
export function parseNice(stat: string): number | null {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const n = Number(fields[19 - 3]);
  return Number.isInteger(n) ? n : null;
}

/** The facts, from what was read (pure: tests pass their own). */
export function processFacts(uid: number, status: string, limits: string, stat: string, nrOpen: string | null, tools: Tools): ProcessFacts {
  const caps = parseCapabilities(status);
  const has = (bit: bigint): boolean => !(caps instanceof Error) && ((caps.effective >> bit) & 1n) === 1n;
  const parsed = parseLimits(limits);
  const hard: ProcessFacts['hard'] = {};
  for (const [name, l] of Object.entries(parsed)) if (name !== 'nice' && l !== undefined) hard[name as RlimitName] = l.hard;
  const ownNice = parseNice(stat) ?? 0;
  // RLIMIT_NICE lets an unprivileged process go down to 20 - its soft limit.
  const niceLimit = parsed.nice?.soft ?? 0;
  const byLimit = niceLimit === 'unlimited' ? -20 : Math.max(-20, 20 - niceLimit);
  const n = nrOpen === null ? NaN : Number(nrOpen.trim());
  return {
    root: uid === 0,
    capSysResource: has(CAP_SYS_RESOURCE),
    ownNice,
    lowestNice: has(CAP_SYS_NICE) ? -20 : Math.min(ownNice, byLimit),
    hard,
    nrOpen: Number.isSafeInteger(n) ? n : null,
    tools,
  };
}

const readOr = (path: string): Promise<string | null> => readFile(path, 'utf8').catch(() => null);

export async function readProcessFacts(): Promise<ProcessFacts> {
  const [status, limits, stat, nrOpen, tools] = await Promise.all([
    readOr('/proc/self/status'), readOr('/proc/self/limits'), readOr('/proc/self/stat'), readOr('/proc/sys/fs/nr_open'), findTools(),
  ]);
  return processFacts(process.getuid?.() ?? 0, status ?? '', limits ?? '', stat ?? '', nrOpen, tools);
}
