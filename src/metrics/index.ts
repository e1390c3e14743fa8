// `--metrics` (SPEC §1, §6), loaded by run.ts only when the option is given:
// without it neither prom-client nor anything here is in superd's memory.
import type { Logger } from '../log/types.js';
import type { MetricsAddress } from './address.js';
import { Figures, type ScrapeSources } from './figures.js';
import { serveMetrics, type MetricsServer } from './server.js';
import { tapLogger } from './tap.js';
import type { SuperdError } from '../errors.js';

export type { MetricsServer } from './server.js';

export interface Metrics {
  /** The logger superd then uses: every event is counted before it is filtered by level. */
  logger: Logger;
  /** Starts the endpoint, or says why it cannot. */
  serve(address: MetricsAddress, status: ScrapeSources['status']): Promise<MetricsServer | SuperdError>;
}

export function createMetrics(logger: Logger): Metrics {
  const figures = new Figures();
  return {
    logger: tapLogger(logger, (event, fields) => figures.observe(event, fields)),
    serve: (address, status) => serveMetrics(address, figures, { status, droppedLogLines: () => logger.droppedLines?.() ?? 0 }),
  };
}
