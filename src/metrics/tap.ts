// The one place log events become metrics: a Logger that hands every event
// to the figures (figures.ts) before the real logger filters it by level.
// Only made with --metrics: without it superd's logger is the plain one,
// and counting costs nothing at all.
import type { LogFields, Logger } from '../log/types.js';

export type Observe = (event: string, fields: LogFields) => void;

export function tapLogger(logger: Logger, observe: Observe): Logger {
  return {
    log(level, event, fields = {}) {
      observe(event, fields);
      logger.log(level, event, fields);
    },
    enabled: (level) => logger.enabled(level),
    reopen: () => logger.reopen(),
    close: () => logger.close(),
    flow: logger.flow,
    droppedLines: logger.droppedLines,
  };
}
