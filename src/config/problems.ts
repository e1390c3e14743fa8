// A file of junk has a problem on every line. Reporting each would flood
// `superd check` and the daemon's log (and hold a reload's worth of messages
// in memory), and an operator reads the first few anyway: a file keeps its
// first problems in line order and one line that says how many more there are.

import { configError, type ConfigError } from '../errors.js';

/** Problems of one kind reported per file; past it, one summary line. */
export const MAX_PROBLEMS_PER_FILE = 20;

/** The summary that stands for the problems left out. */
export interface Omitted extends ConfigError {
  omitted: number;
}

const SUMMARY_CODES: ReadonlySet<string> = new Set(['more_errors', 'more_warnings']);
// The code first: a property that most objects lack is a slow lookup, and this runs per problem.
const isOmitted = (e: ConfigError): e is Omitted =>
  SUMMARY_CODES.has(e.code) && typeof (e as Partial<Omitted>).omitted === 'number';

/** How many problems an entry stands for: one, or as many as a summary left out. */
export const problemCount = (e: ConfigError): number => (isOmitted(e) ? e.omitted : 1);

/** Collects a file's errors (or warnings) with bounded memory: push as many as you like. */
export class FileProblems {
  private readonly kept: { e: ConfigError; seq: number }[] = [];
  private seq = 0;
  private omitted = 0;
  private firstOmittedLine = Number.POSITIVE_INFINITY;

  constructor(
    private readonly file: string,
    private readonly kind: 'error' | 'warning',
    private readonly limit = MAX_PROBLEMS_PER_FILE,
  ) {}

  /** All problems pushed, shown or not. */
  get count(): number {
    return this.kept.length + this.omitted;
  }

  /**
   * Whether a problem at `line` would be shown. Work that only makes a
   * message better (a "did you mean") is skipped for one that would not.
   */
  wants(line: number): boolean {
    return this.kept.length < this.limit || line < this.maxKept().e.line;
  }

  /** Takes a problem, or the summary of another FileProblems for this file (it adds its count). */
  readonly push = (e: ConfigError): void => {
    if (isOmitted(e)) {
      this.leaveOut(e.line, e.omitted);
      return;
    }
    if (this.kept.length < this.limit) {
      this.kept.push({ e, seq: this.seq++ });
      return;
    }
    const last = this.maxKept();
    if (e.line >= last.e.line) {
      this.leaveOut(e.line, 1);
      return;
    }
    this.kept.splice(this.kept.indexOf(last), 1, { e, seq: this.seq++ });
    this.leaveOut(last.e.line, 1);
  };

  /** The shown problems in line order (as pushed for one line), then the summary if any were left out. */
  list(): ConfigError[] {
    const shown = [...this.kept].sort((a, b) => a.e.line - b.e.line || a.seq - b.seq).map((k) => k.e);
    if (this.omitted === 0) return shown;
    const plural = this.omitted === 1 ? '' : 's';
    const summary: Omitted = {
      ...configError(
        this.kind === 'error' ? 'more_errors' : 'more_warnings',
        this.file,
        this.firstOmittedLine,
        null,
        `and ${this.omitted} more ${this.kind}${plural} in this file from this line on, not shown one by one`,
      ),
      omitted: this.omitted,
    };
    return [...shown, summary];
  }

  /** The kept problem with the highest line, the latest pushed of them: the first to go. */
  private maxKept(): { e: ConfigError; seq: number } {
    let max = this.kept[0] as { e: ConfigError; seq: number };
    for (const k of this.kept) if (k.e.line > max.e.line || (k.e.line === max.e.line && k.seq > max.seq)) max = k;
    return max;
  }

  private leaveOut(line: number, n: number): void {
    this.omitted += n;
    this.firstOmittedLine = Math.min(this.firstOmittedLine, line);
  }
}
