// One place that turns events into log lines. Every line is one event with
// flat fields, the same names in text and JSON (SPEC §6), so log parsers and
// tests can rely on them.
import { createWriteStream, type WriteStream } from 'node:fs';
import winston from 'winston';

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
}

const LEVELS: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };
const MESSAGE = Symbol.for('message');

/** `key=value`, with values quoted as JSON strings when they would be ambiguous. */
function textValue(value: string | number | boolean | null): string {
  const s = String(value);
  return s === '' || /[\s"=\\]/.test(s) || /[\u0000-\u001f\u007f]/.test(s) ? JSON.stringify(s) : s;
}

export function formatText(time: string, level: LogLevel, event: string, fields: LogFields): string {
  let line = `${time} ${level} ${event}`;
  for (const [key, value] of Object.entries(fields)) {
    // null says "does not apply" (no signal for a normal exit): JSON keeps it, text leaves it out.
    if (value !== undefined && value !== null) line += ` ${key}=${textValue(value)}`;
  }
  return line;
}

export function formatJson(time: string, level: LogLevel, event: string, fields: LogFields): string {
  const record: Record<string, FieldValue> = { time, level, event };
  for (const [key, value] of Object.entries(fields)) {
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

/**
 * winston's last step: hands each formatted line to a target stream that can
 * be swapped (reopen). Lines logged in one turn of the event loop go out as
 * one write: under load that is one system call for many lines, not one each.
 */
// winston's own base class for transports (its typings name the module, not the class).
const TransportStream = (winston as unknown as { Transport: typeof import('winston-transport') }).Transport;

class LineTransport extends TransportStream {
  private pending: string[] = [];
  private scheduled = false;

  constructor(private target: NodeJS.WritableStream) {
    super();
    // Nothing logged just before an exit is lost.
    process.on('exit', () => this.flush());
  }
  swap(target: NodeJS.WritableStream): NodeJS.WritableStream {
    this.flush();
    const old = this.target;
    this.target = target;
    return old;
  }
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.target.write(text);
  }
  override log(info: Entry, next: () => void): void {
    this.pending.push(`${info[MESSAGE] ?? ''}\n`);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
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
  const open = (file: string): WriteStream => {
    const stream = createWriteStream(file, { flags: 'a' });
    // A log file we cannot write must not take the daemon down; say so on stderr.
    stream.on('error', (err) => process.stderr.write(`superd: log file ${file}: ${err.message}\n`));
    return stream;
  };
  const relay = new LineTransport(options.file === null ? process.stderr : open(options.file));
  const logger = winston.createLogger({
    levels: LEVELS,
    level: options.level,
    format: lineFormat(),
    transports: [relay],
  });
  const threshold = LEVELS[options.level];
  return {
    enabled: (level) => LEVELS[level] <= threshold,
    log(level, event, fields = {}) {
      if (LEVELS[level] > threshold) return;
      logger.log({ level, message: '', event, fields } as unknown as winston.LogEntry);
    },
    reopen() {
      if (options.file === null) return;
      const old = relay.swap(open(options.file));
      (old as WriteStream).end();
    },
    close: () =>
      new Promise((resolve) => {
        relay.flush();
        if (options.file === null) return resolve();
        const stream = relay.swap(process.stderr) as WriteStream;
        stream.end(() => resolve());
      }),
  };
}
