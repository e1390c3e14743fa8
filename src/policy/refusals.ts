// Which refusals get a `refused` log line of their own (SPEC §6), so that a
// flood never becomes a log flood while every refusal is still accounted
// for: the ones not logged are counted into a summary per reason. The status
// counters are kept by the caller and stay exact whatever this says.
import type { Clock } from './clock.js';
import { LruMap } from './lru.js';

export interface RefusalLogOptions {
  /** Refusals of one source, per reason, logged one by one in each window. */
  firstPerSource?: number;
  /** How long a source's window lasts, from its first logged refusal. */
  windowMs?: number;
  /** At most one summary per reason this often. */
  summaryEveryMs?: number;
  /** Lines logged one by one per summary interval, across all sources and reasons. */
  linesPerInterval?: number;
  /** Sources remembered at once; past it, new sources go into the summary only. */
  maxSources?: number;
}

export interface RefusalSummary {
  reason: string;
  /** Refusals not logged one by one since the last summary of this reason: exact. */
  suppressed: number;
  /** Distinct sources among them, counted up to maxSources (a lower bound past it). */
  sources: number;
}

interface SourceEntry {
  logged: number;
  since: number;
}

interface Pending {
  suppressed: number;
  sources: Set<string>;
  dueAt: number;
}

export class RefusalLog {
  private readonly firstPerSource: number;
  private readonly windowMs: number;
  private readonly summaryEveryMs: number;
  private readonly linesPerInterval: number;
  private readonly maxSources: number;
  // Keyed by reason and source, set once per window (a count goes up in
  // place), so the order of use is window-start order: the expired entries
  // are always the oldest.
  private readonly sources = new LruMap<SourceEntry>();
  private readonly pending = new Map<string, Pending>();
  private budget = 0;
  private budgetSince = -Infinity;

  constructor(
    private readonly clock: Clock,
    opts: RefusalLogOptions = {},
  ) {
    this.firstPerSource = opts.firstPerSource ?? 3;
    this.windowMs = opts.windowMs ?? 60_000;
    this.summaryEveryMs = opts.summaryEveryMs ?? 5_000;
    this.linesPerInterval = opts.linesPerInterval ?? 20;
    this.maxSources = opts.maxSources ?? 4096;
  }

  /**
   * Notes one refusal of `key` (a sourceKey, so an IPv6 /64 is one source)
   * for `reason`: true if it is to be logged now, false if it went into the
   * next summary.
   */
  record(reason: string, key: string): boolean {
    const now = this.clock.now();
    this.expire(now);
    if (now - this.budgetSince >= this.summaryEveryMs) {
      this.budget = this.linesPerInterval;
      this.budgetSince = now;
    }
    const id = `${reason} ${key}`;
    // expire() has dropped this source's entry if its window is over.
    const entry = this.sources.get(id);
    const allowed = entry === undefined ? this.sources.size < this.maxSources : entry.logged < this.firstPerSource;
    if (allowed && this.budget > 0) {
      this.budget--;
      if (entry === undefined) this.sources.set(id, { logged: 1, since: now });
      else entry.logged++;
      return true;
    }
    this.suppress(reason, key, now);
    return false;
  }

  /** The summaries to log now; each is handed out once. */
  due(): RefusalSummary[] {
    const now = this.clock.now();
    const out: RefusalSummary[] = [];
    for (const [reason, p] of this.pending) {
      if (now < p.dueAt) continue;
      out.push({ reason, suppressed: p.suppressed, sources: p.sources.size });
      this.pending.delete(reason);
    }
    return out;
  }

  /** When due() will next have something (clock time), or null: for a timer, so the last summary of a flood is not left unsaid. */
  nextDue(): number | null {
    let next: number | null = null;
    for (const p of this.pending.values()) if (next === null || p.dueAt < next) next = p.dueAt;
    return next;
  }

  /** Sources remembered now (for tests and status). */
  get size(): number {
    return this.sources.size;
  }

  private suppress(reason: string, key: string, now: number): void {
    let p = this.pending.get(reason);
    if (p === undefined) {
      // The interval starts at the first suppressed refusal, which comes after
      // the previous summary: summaries of a reason are >= summaryEveryMs apart.
      p = { suppressed: 0, sources: new Set(), dueAt: now + this.summaryEveryMs };
      this.pending.set(reason, p);
    }
    p.suppressed++;
    if (p.sources.size < this.maxSources) p.sources.add(key);
  }

  private expire(now: number): void {
    // Each entry is deleted once, so this is amortized O(1) per record().
    for (let oldest = this.sources.oldest(); oldest !== undefined; oldest = this.sources.oldest()) {
      if (now - oldest.value.since < this.windowMs) return;
      this.sources.delete(oldest.key);
    }
  }
}
