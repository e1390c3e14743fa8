// The self-check `superd run` makes before it binds anything: each bet on
// Node's internals (a file of this folder each) is tried on throwaway
// sockets and a pipe, and must behave as superd uses it, not merely be
// there. Each that does not is replaced by the public API it stands in for;
// the paths taken are named in the `started` line. Never throws, bounded by
// a deadline, and leaves no descriptor behind.
import { hookAccept } from './accept.js';
import { checkPipe, type PipeProbes } from './check-pipe.js';
import { checkSockets, type SocketProbes } from './check-sockets.js';
import { setSocketBlocking, socketFd } from './descriptor.js';
import { BETS, type Bet, type BetOutcome, type InternalsPaths } from './paths.js';
import { pipeWrap, readPipeWith } from './pipe.js';
import { procReadable } from './procfd.js';
import { streamFromHandle } from './stream.js';
import { AVOIDED, Deadline, failed } from './trial.js';
import { errorMessage } from '../errors.js';

/** What each check calls: the real bets, or (in tests) one made to fail. */
export interface Probes extends SocketProbes, PipeProbes {}

export const REAL_PROBES: Probes = { hookAccept, streamFromHandle, socketFd, setSocketBlocking, pipeWrap, readPipeWith };

export interface CheckOptions {
  /** Bets not to take, whatever the check would find (--avoid-internals). */
  avoid?: ReadonlySet<Bet>;
  /** Stand-ins for some of the real bets (tests). */
  probes?: Partial<Probes>;
  /** The whole check ends by then; what has not shown it works by then is not used. */
  timeoutMs?: number;
}

export interface InternalsReport {
  readonly paths: InternalsPaths;
  readonly outcomes: Readonly<Record<Bet, BetOutcome>>;
  /** How long the check took. */
  readonly ms: number;
}

/** Only a check that hangs comes near it: a loaded host stretches the few milliseconds it takes, and the start goes on meanwhile (commands/run.ts). */
export const CHECK_TIMEOUT_MS = 5000;

export async function checkInternals(o: CheckOptions = {}): Promise<InternalsReport> {
  const started = performance.now();
  const avoid = o.avoid ?? new Set<Bet>();
  const probes: Probes = { ...REAL_PROBES, ...o.probes };
  const deadline = new Deadline(o.timeoutMs ?? CHECK_TIMEOUT_MS);
  let outcomes: Record<Bet, BetOutcome>;
  try {
    if (!procReadable()) {
      const u = failed('untested', 'cannot read /proc/self/fdinfo, where the kernel says what a descriptor is');
      outcomes = { accept: u, stream: u, fd: u, pipe: u };
    } else {
      const [sockets, pipe] = await Promise.all([checkSockets(probes, avoid, deadline), avoid.has('pipe') ? AVOIDED : checkPipe(probes, deadline)]);
      outcomes = { ...sockets, pipe };
    }
  } catch (err) {
    const u = failed('untested', `the check threw: ${errorMessage(err)}`);
    outcomes = { accept: u, stream: u, fd: u, pipe: u };
  } finally {
    deadline.clear();
  }
  for (const bet of avoid) outcomes[bet] = AVOIDED;
  return { paths: choosePaths(outcomes), outcomes, ms: performance.now() - started };
}

/**
 * The bare accepted handle serves builtins too, so it is taken only when a
 * net.Socket can be built on it. A descriptor that could not be tried at all
 * (no loopback connection) is used as before, and said to be untested: only
 * a check that saw it fail stops superd (commands/run.ts).
 */
export function choosePaths(o: Readonly<Record<Bet, BetOutcome>>): InternalsPaths {
  const handle = o.accept.ok && o.stream.ok;
  return {
    accept: handle ? 'handle' : 'connection',
    stream: handle ? 'handle' : 'connection',
    fd: o.fd.ok || o.fd.why === 'untested' ? '_handle' : 'none',
    pipe: o.pipe.ok ? 'pipe_wrap' : 'socket',
  };
}

/**
 * For the `started` line: `accept=handle stream=handle fd=_handle
 * pipe=pipe_wrap`, each path not proven followed by why in parentheses
 * (`accept=connection(stream)` when the stream bet took the accept path
 * with it).
 */
export function describePaths(r: InternalsReport): string {
  return BETS.map((bet) => {
    const outcome = r.outcomes[bet];
    const why = outcome.ok ? (bet === 'accept' && r.paths.accept === 'connection' ? 'stream' : null) : outcome.why;
    return `${bet}=${r.paths[bet]}${why === null ? '' : `(${why})`}`;
  }).join(' ');
}

/** `accept,pipe` (or `all`) as a set of bets, or what is wrong with it. */
export function parseBets(text: string): Set<Bet> | Error {
  const words = text.split(',').map((w) => w.trim()).filter((w) => w !== '');
  if (words.includes('all')) return new Set(BETS);
  const unknown = words.filter((w) => !(BETS as readonly string[]).includes(w));
  if (unknown.length > 0) return new Error(`--avoid-internals: unknown ${unknown.join(', ')}: expected a comma-separated list of ${BETS.join(', ')}, or all`);
  return new Set(words as Bet[]);
}
