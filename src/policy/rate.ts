// rate and rate_per_source (SPEC §2): new handlers per minute.
//
// A token bucket, not a sliding window: it holds `perMinute` tokens, a
// handler takes one, and tokens come back continuously at perMinute/60 per
// second. So rate = 60 serves a burst of 60 at once, then one a second; after
// a quiet minute a full burst again. A sliding window would serve the same
// burst but then nothing until it slides past, and needs a timestamp per
// handler; a bucket is two numbers, spreads the refused excess evenly, and
// never turns a service off: the next connection inside the limit is served.
import type { Clock } from './clock.js';
import { LruMap } from './lru.js';

// Credit is kept in units of 1/60000 token, so that with a clock in whole
// milliseconds refill is exact integer arithmetic: a millisecond adds
// `perMinute` units and a token costs 60000. (With floats, rate = 7 would be
// 0.99999… tokens short after exactly 60/7 s.)
const TOKEN = 60_000;

interface Bucket {
  credit: number;
  at: number;
}

/** The credit `bucket` holds at `now`. */
function creditAt(bucket: Bucket, perMinute: number, now: number): number {
  // A clock that steps back must not drain a bucket.
  const elapsed = Math.max(0, now - bucket.at);
  return Math.min(perMinute * TOKEN, bucket.credit + elapsed * perMinute);
}

function refill(bucket: Bucket, perMinute: number, now: number): void {
  bucket.credit = creditAt(bucket, perMinute, now);
  bucket.at = now;
}

function checkRate(perMinute: number): void {
  // Config validation gives integers >= 1; anything else is a bug here.
  if (!Number.isFinite(perMinute) || perMinute <= 0) throw new RangeError(`rate must be > 0 per minute, got ${perMinute}`);
}

/** One bucket, for a service's `rate`. */
export class RateLimit {
  private readonly bucket: Bucket;

  constructor(
    readonly perMinute: number,
    private readonly clock: Clock,
  ) {
    checkRate(perMinute);
    this.bucket = { credit: perMinute * TOKEN, at: clock.now() };
  }

  /** Whether take() would succeed now; takes nothing. */
  available(): boolean {
    refill(this.bucket, this.perMinute, this.clock.now());
    return this.bucket.credit >= TOKEN;
  }

  /** Takes a token: true if there was one. */
  take(): boolean {
    if (!this.available()) return false;
    this.bucket.credit -= TOKEN;
    return true;
  }
}

// Entries looked at per call for being full: more than one, so the sweep
// outpaces insertion and the map shrinks back once a flood is over.
const SWEEP = 2;

/**
 * A bucket per source, for `rate_per_source`. A source without an entry has a
 * full bucket, so an entry whose bucket has refilled (at most a minute after
 * its last use) is worthless and is dropped. Entries are kept in order of
 * last use, so the oldest, the first to be full, are at one end: each take()
 * looks at a couple of them, amortized O(1), and the map shrinks back once
 * a flood is over.
 *
 * Past `maxSources` (a flood from many addresses) the least recently used
 * entry is evicted even if not full: that source starts again with a full
 * bucket, a burst it might not have had. Memory stays flat, and a source
 * that keeps knocking stays at the new end and keeps its (empty) bucket.
 */
export class SourceRateLimits {
  private readonly buckets = new LruMap<Bucket>();

  constructor(
    readonly perMinute: number,
    private readonly clock: Clock,
    private readonly maxSources = 65536,
  ) {
    checkRate(perMinute);
    if (!(maxSources >= 1)) throw new RangeError(`maxSources must be >= 1, got ${maxSources}`);
  }

  /** Whether take(key) would succeed now; takes nothing and records nothing. */
  available(key: string): boolean {
    const bucket = this.buckets.get(key);
    if (bucket === undefined) return true;
    return creditAt(bucket, this.perMinute, this.clock.now()) >= TOKEN;
  }

  /** Takes a token from `key`'s bucket: true if there was one. */
  take(key: string): boolean {
    const now = this.clock.now();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) bucket = { credit: this.perMinute * TOKEN, at: now };
    else refill(bucket, this.perMinute, now);
    const taken = bucket.credit >= TOKEN;
    if (taken) bucket.credit -= TOKEN;
    // A use even when refused: a source that keeps knocking is the one whose
    // empty bucket is worth keeping.
    this.buckets.set(key, bucket);
    this.sweep(now);
    return taken;
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    while (this.buckets.size > this.maxSources) this.evictOldest();
    for (let i = 0; i < SWEEP; i++) {
      const oldest = this.buckets.oldest();
      // In order of last use, so once one is not full the rest are likely not.
      if (oldest === undefined || creditAt(oldest.value, this.perMinute, now) < this.perMinute * TOKEN) return;
      this.buckets.delete(oldest.key);
    }
  }

  private evictOldest(): void {
    const oldest = this.buckets.oldest();
    if (oldest !== undefined) this.buckets.delete(oldest.key);
  }
}
