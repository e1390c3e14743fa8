// The Logger superd passes around: winston with one format (text or JSON,
// format.ts) and one transport, the sink (sink.ts), which batches, bounds
// and writes the lines. Levels below the threshold cost nothing. On the
// journal each line starts with its syslog priority (journal.ts).
import winston from 'winston';
import { formatJson, formatText } from './format.js';
import { JOURNAL_PREFIX, stderrIsJournal } from './journal.js';
import { LogSink } from './sink.js';
import type { LogFields, LogFormat, Logger, LogLevel } from './types.js';

const LEVELS: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };
const MESSAGE = Symbol.for('message');

interface Entry {
  level: LogLevel;
  event: string;
  fields: LogFields;
  [MESSAGE]?: string;
}

// winston's own base class for transports (its typings name the module, not the class).
const TransportStream = (winston as unknown as { Transport: typeof import('winston-transport') }).Transport;

/** winston's last step: each formatted line goes to the sink (sink.ts), which batches, bounds and writes them. */
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
  const format = options.format === 'json' ? formatJson : formatText;
  // Chosen once: off the journal lines are formatted as they were; on it the
  // prefix (a constant string per level) is one concatenation per line.
  const journal = options.file === null && stderrIsJournal();
  const render = journal
    ? (time: string, level: LogLevel, event: string, fields: LogFields): string => JOURNAL_PREFIX[level] + format(time, level, event, fields)
    : format;
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
    // A turn first: what winston's streams still hold reaches the sink.
    flushed: () => new Promise<void>((resolve) => setImmediate(resolve)).then(() => sink.flushed()),
    flow: sink,
    droppedLines: () => sink.dropped,
  };
}
