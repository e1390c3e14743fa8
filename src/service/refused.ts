// What a service does with a refusal (SPEC §6): count it, always, per reason
// (superd status), and log it — the first few of a source one by one, the
// rest of a flood as one summary per reason every few seconds
// (policy/refusals.ts decides which), so a flood never becomes a log flood.
// A udp builtin's `answered` lines are bounded the same way: a forged flood
// of requests it does answer must not flood the log either.
import type { LogFields, Logger, LogLevel } from '../log/types.js';
import { systemClock } from '../policy/clock.js';
import { RefusalLog } from '../policy/refusals.js';
import { sourceKey } from '../policy/source.js';

/** One kind of bounded line: its event, its summary's event and fields, its level. */
interface LineKind {
  event: string;
  summaryEvent: string;
  level(category: string): LogLevel;
  /** The summary's fields besides `service`. */
  summary(category: string, count: number, sources: number): LogFields;
}

/** A datagram's source can be forged: reflection refusals stay out of the log at the default level. */
const levelOf = (reason: string): LogLevel => (reason === 'reflection' ? 'debug' : 'warn');

const REFUSED: LineKind = {
  event: 'refused',
  summaryEvent: 'refused_summary',
  level: levelOf,
  summary: (reason, count, sources) => ({
    reason,
    count,
    sources,
    message: `${count} more refused (${reason}) from ${sources} source(s), not logged one by one`,
  }),
};

const ANSWERED: LineKind = {
  event: 'answered',
  summaryEvent: 'answered_summary',
  level: () => 'info',
  summary: (builtin, count, sources) => ({
    builtin,
    count,
    sources,
    message: `${count} more answered from ${sources} source(s), not logged one by one`,
  }),
};

/**
 * Lines of one kind for one service: of each source and category (a
 * refusal's reason, a builtin's name) the first few one by one, the rest
 * counted into one summary per category every few seconds.
 */
export class BoundedLines {
  private readonly log = new RefusalLog(systemClock);
  private summaryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly service: string,
    private readonly logger: Logger,
    private readonly kind: LineKind,
  ) {}

  /** `address` is the source (for its allowance of lines); `fields` what the line says besides `service`. */
  line(category: string, address: string, fields: LogFields): void {
    if (this.log.record(category, sourceKey(address))) {
      this.logger.log(this.kind.level(category), this.kind.event, { service: this.service, ...fields });
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
        this.logger.log(this.kind.level(reason), this.kind.summaryEvent, { service: this.service, ...this.kind.summary(reason, suppressed, sources) });
      }
      this.scheduleSummary();
    }, Math.max(0, at - systemClock.now()));
    this.summaryTimer.unref();
  }
}

export class RefusalReporter {
  private readonly lines: BoundedLines;

  constructor(
    service: string,
    private readonly counts: Record<string, number>,
    logger: Logger,
  ) {
    this.lines = new BoundedLines(service, logger, REFUSED);
  }

  /** `address` is the source (for the per-source allowance of lines); `fields` what the line says of it. */
  refuse(address: string, fields: LogFields, reason: string): void {
    this.counts[reason] = (this.counts[reason] ?? 0) + 1;
    this.lines.line(reason, address, { ...fields, reason });
  }
}

/** A udp builtin's `answered` lines (one per request), bounded as refusals are; the count in status stays exact. */
export function answeredLines(service: string, logger: Logger): BoundedLines {
  return new BoundedLines(service, logger, ANSWERED);
}
