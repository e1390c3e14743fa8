// What the rest of superd sees of logging: a Logger that takes one event with
// flat fields (SPEC §6), and the flow control a reader that can wait for the
// log is given (a handler's stderr, stderr/read.ts).

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'text' | 'json';
export type FieldValue = string | number | boolean | null | undefined;
export type LogFields = Record<string, FieldValue>;

export interface Logger {
  log(level: LogLevel, event: string, fields?: LogFields): void;
  enabled(level: LogLevel): boolean;
  /** Reopen the log file (logrotate). A no-op when logging to stderr. */
  reopen(): void;
  close(): Promise<void>;
  /** Resolves once every line logged so far is written (an upgrade in place execs right after: src/upgrade/). */
  flushed?(): Promise<void>;
  /** Whether the log is behind, for readers that can wait (absent: they never need to). */
  readonly flow?: LogFlow;
  /** Log lines dropped since superd started (a log that failed or fell behind), for --metrics. */
  readonly droppedLines?: () => number;
}

/** Flow control for those who can wait for the log: a handler's stderr is read only as fast as it is written. */
export interface LogFlow {
  /** True while more is waiting to be written than the log should hold. */
  behind(): boolean;
  /** Calls fn (once) when the log is no longer behind. */
  whenCaughtUp(fn: () => void): void;
}
