// What `superd run` does with the check's report: the paths become the
// process's, each bet that fell back is logged with what was seen, and a
// Node on which no descriptor of a connection is to be had stops the start.
import type { SuperdError } from '../errors.js';
import type { Logger } from '../log/types.js';
import { describePaths, type InternalsReport } from './check.js';
import { BETS, usePaths } from './paths.js';

/**
 * Takes the report's paths for the whole process and logs `node_internals`
 * (warn) for each bet that did not hold, unless --avoid-internals asked for
 * it. Returns why superd must not start: with no descriptor for an accepted
 * connection, no program can be handed one (and the control socket cannot
 * ask who is at its other end), and there is no public way to it.
 */
export function adoptPaths(report: InternalsReport, logger: Logger): SuperdError | null {
  usePaths(report.paths);
  for (const bet of BETS) {
    const { ok, why, detail } = report.outcomes[bet];
    const taken = report.paths[bet];
    // No descriptor at all is not a fallback: the caller says so as it stops.
    if (ok || why === 'avoided' || taken === 'none') continue;
    logger.log('warn', 'node_internals', { bet, why, path: taken, message: `${detail}; superd uses ${fallbackWords(bet, taken)}` });
  }
  if (report.paths.fd !== 'none') return null;
  return {
    code: 'node_internals',
    message:
      `this Node.js (${process.version}) gives no descriptor of a connected socket (${describePaths(report)}: ${report.outcomes.fd.detail}): ` +
      'superd could not hand connections to programs; run it on a Node.js version it supports (see engines in package.json)',
  };
}

function fallbackWords(bet: string, path: string): string {
  if (bet === 'fd') return "the socket's _handle.fd, unchecked";
  if (path === 'connection') return "the net.Server's 'connection' event and its net.Socket";
  if (path === 'socket') return 'a net.Socket on the descriptor';
  return path;
}
