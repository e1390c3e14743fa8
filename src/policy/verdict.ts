// The whole admission decision for one service (SPEC §2 policy keys, §6
// refusal reasons), composed from the pure pieces beside it. The runtime
// acts on the answer; nothing here touches a socket.
import { accessRules, type AccessRules } from './access.js';
import { admit, type Load } from './admission.js';
import { systemClock, type Clock } from './clock.js';
import { SourceCounts } from './persource.js';
import { RateLimit, SourceRateLimits } from './rate.js';
import { sourceKey } from './source.js';

export type RefusalReason = 'only_from' | 'no_access' | 'max_per_source' | 'rate' | 'rate_per_source' | 'queue_full';

export interface PolicyLimits {
  onlyFrom: string[] | null;
  noAccess: string[];
  maxPerSource: number | null;
  rate: number | null;
  ratePerSource: number | null;
  maxChildren: number;
  queue: number;
}

export class ServicePolicy {
  private limits!: PolicyLimits;
  private access: AccessRules | null = null;
  private rate: RateLimit | null = null;
  private ratePerSource: SourceRateLimits | null = null;
  // Kept whatever max_per_source says, so a reload that adds it sees the
  // connections already open.
  private readonly counts = new SourceCounts();

  constructor(
    limits: PolicyLimits,
    private readonly clock: Clock = systemClock,
  ) {
    this.reconfigure(limits);
  }

  /** New limits on reload: running/queued per-source counts are kept; rate state is kept when the rate is unchanged. */
  reconfigure(limits: PolicyLimits): void {
    this.limits = limits;
    this.access = accessRules(limits.onlyFrom, limits.noAccess);
    if (limits.rate === null) this.rate = null;
    else if (this.rate?.perMinute !== limits.rate) this.rate = new RateLimit(limits.rate, this.clock);
    if (limits.ratePerSource === null) this.ratePerSource = null;
    else if (this.ratePerSource?.perMinute !== limits.ratePerSource) {
      this.ratePerSource = new SourceRateLimits(limits.ratePerSource, this.clock);
    }
  }

  /**
   * A new stream connection from `address` ('' for unix: no per-source rule
   * applies, and no access rule can match it, so only_from refuses it). Order:
   * access → max_per_source (running + queued of that source) →
   * rate_per_source → rate → max_children/queue. Rate tokens are taken only
   * on 'start' or 'queue', so a connection refused for any reason costs
   * nobody a token. On 'start'/'queue' the source's count goes up: call
   * release(address) exactly once when that connection's handler is gone or
   * the queued connection is dropped.
   */
  admitConnection(address: string, load: Load): 'start' | 'queue' | RefusalReason {
    const refusal = this.access?.check(address) ?? null;
    if (refusal !== null) return refusal;
    const key = address === '' ? null : sourceKey(address);
    if (key !== null && this.limits.maxPerSource !== null && this.counts.count(key) >= this.limits.maxPerSource) {
      return 'max_per_source';
    }
    if (key !== null && this.ratePerSource !== null && !this.ratePerSource.available(key)) return 'rate_per_source';
    if (this.rate !== null && !this.rate.available()) return 'rate';
    const admission = admit(load, this.limits);
    if (admission === 'refuse') return 'queue_full';
    if (key !== null) {
      this.ratePerSource?.take(key);
      this.counts.add(key);
    }
    this.rate?.take();
    return admission;
  }

  /** only_from and no_access alone: a client they refuse costs no TLS handshake (tls/handshake.ts). */
  accessRefusal(address: string): RefusalReason | null {
    return this.access?.check(address) ?? null;
  }

  /** The connection admitted for `address` is gone (handler exited, or dropped from the queue). */
  release(address: string): void {
    if (address !== '') this.counts.remove(sourceKey(address));
  }

  /** A connection an earlier image admitted (an upgrade in place): counted as one admitted here; release() follows. */
  holds(address: string): void {
    if (address !== '') this.counts.add(sourceKey(address));
  }

  /**
   * One request that is not a held connection (a udp datagram to a builtin,
   * or the datagram that wakes a udp wait service): access, rate_per_source,
   * rate. No per-source count is kept. A refused request takes no token.
   */
  admitRequest(address: string): RefusalReason | null {
    const refusal = this.access?.check(address) ?? null;
    if (refusal !== null) return refusal;
    const key = address === '' ? null : sourceKey(address);
    if (key !== null && this.ratePerSource !== null && !this.ratePerSource.available(key)) return 'rate_per_source';
    if (this.rate !== null && !this.rate.available()) return 'rate';
    if (key !== null) this.ratePerSource?.take(key);
    this.rate?.take();
    return null;
  }

  /** Sources with connections running or queued now (for status and tests). */
  get trackedSources(): number {
    return this.counts.size;
  }

  /** Sources with rate_per_source state now (for status and tests). */
  get rateSources(): number {
    return this.ratePerSource?.size ?? 0;
  }
}
