// What a service does with a refusal (SPEC §6): count it, always, per reason
// (superd status), and log it — the first few of a source one by one, the
// rest of a flood as one summary per reason every few seconds
// (policy/refusals.ts decides which), so a flood never becomes a log flood.
import type { LogFields, Logger } from '../log.js';
import { systemClock } from '../policy/clock.js';
import { RefusalLog } from '../policy/refusals.js';
import { sourceKey } from '../policy/source.js';

/** A datagram's source can be forged: reflection refusals stay out of the log at the default level. */
const levelOf = (reason: string): 'warn' | 'debug' => (reason === 'reflection' ? 'debug' : 'warn');

export class RefusalReporter {
  private readonly log = new RefusalLog(systemClock);
  private summaryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly service: string,
    private readonly counts: Record<string, number>,
    private readonly logger: Logger,
  ) {}

  /** `address` is the source (for the per-source allowance of lines); `fields` what the line says of it. */
  refuse(address: string, fields: LogFields, reason: string): void {
    this.counts[reason] = (this.counts[reason] ?? 0) + 1;
    if (this.log.record(reason, sourceKey(address))) {
      this.logger.log(levelOf(reason), 'refused', { service: this.service, ...fields, reason });
    }
    this.scheduleSummary();
  }

  private scheduleSummary(): void {
    if (this.summaryTimer !== null) return;
    const at = this.log.nextDue();
    if (at === null) return;
    this.summaryTimer = setTimeout(() => {
      this.summaryTimer = null;
      for (const { reason, suppressed, sources } of this.log.due()) {
        this.logger.log(levelOf(reason), 'refused_summary', {
          service: this.service,
          reason,
          count: suppressed,
          sources,
          message: `${suppressed} more refused (${reason}) from ${sources} source(s), not logged one by one`,
        });
      }
      this.scheduleSummary();
    }, Math.max(0, at - systemClock.now()));
    this.summaryTimer.unref();
  }
}
