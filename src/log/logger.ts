// One place that turns events into log lines. Every line is one event with
// flat fields, the same names in text and JSON (SPEC §6), so log parsers and
// tests can rely on them.
import winston from 'winston';
import { LogSink, type LogFlow } from './logsink.js';

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
  /** Whether the log is behind, for readers that can wait (absent: they never need to). */
  readonly flow?: LogFlow;
}

const LEVELS: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };
const MESSAGE = Symbol.for('message');

/** What makes a text value ambiguous: whitespace, `"`, `=`, `\\`, control characters. */
const AMBIGUOUS = /[\s"=\\\u0000-\u001f\u007f]/;

/** `key=value`, with values quoted as JSON strings when they would be ambiguous. */
function textValue(value: string | number | boolean): string {
  // Two lines a connection go through here: numbers need no look.
  if (typeof value === 'number') return String(value);
  const s = String(value);
  return s === '' || AMBIGUOUS.test(s) ? JSON.stringify(s) : s;
}

// for...in, not Object.entries: no array per field on the path of every connection.
export function formatText(time: string, level: LogLevel, event: string, fields: LogFields): string {
  let line = `${time} ${level} ${event}`;
  for (const key in fields) {
    const value = fields[key];
    // null says "does not apply" (no signal for a normal exit): JSON keeps it, text leaves it out.
    if (value !== undefined && value !== null) line += ` ${key}=${textValue(value)}`;
  }
  return line;
}

export function formatJson(time: string, level: LogLevel, event: string, fields: LogFields): string {
  const record: Record<string, FieldValue> = { time, level, event };
  for (const key in fields) {
    const value = fields[key];
    if (value !== undefined) record[key] = value;
  }
  return JSON.stringify(record);
}

interface Entry {
  level: LogLevel;
  event: string;
  fields: LogFields;
  [MESSAGE]?: string;
}

// winston's own base class for transports (its typings name the module, not the class).
const TransportStream = (winston as unknown as { Transport: typeof import('winston-transport') }).Transport;

/** winston's last step: each formatted line goes to the sink (logsink.ts), which batches, bounds and writes them. */
class LineTransport extends TransportStream {
  constructor(private readonly sink: LogSink) {
    super();
  }
  override log(info: Entry, next: () => void): void {
    this.sink.add(info[MESSAGE] ?? '');
    next();
  }
}

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** null: standard error. */
  file: string | null;
}

export function createLogger(options: LoggerOptions): Logger {
  const render = options.format === 'json' ? formatJson : formatText;
  const lineFormat = winston.format((info) => {
    const entry = info as unknown as Entry;
    entry[MESSAGE] = render(new Date().toISOString(), entry.level, entry.event, entry.fields);
    return info;
  });
  const threshold = LEVELS[options.level];
  const sink = new LogSink(options.file, (level, event, fields) =>
    LEVELS[level] <= threshold ? render(new Date().toISOString(), level, event, fields) : null,
  );
  const logger = winston.createLogger({
    levels: LEVELS,
    level: options.level,
    format: lineFormat(),
    transports: [new LineTransport(sink)],
  });
  return {
    enabled: (level) => LEVELS[level] <= threshold,
    log(level, event, fields = {}) {
      if (LEVELS[level] > threshold) return;
      logger.log({ level, message: '', event, fields } as unknown as winston.LogEntry);
    },
    reopen: () => sink.reopen(),
    close: () => sink.close(),
    flow: sink,
  };
}
