// Which path superd takes for each of its bets on Node's internals: set once
// at start from what check.ts found, before any listener or handler exists,
// and read where each path forks (listen/accepted.ts, pipe.ts). What this
// Node offers is a fact of the whole process, hence one value for it rather
// than one handed down through every listener. Until a check has run (unit
// tests that build listeners directly), the internal paths are taken where
// they are there, as they are on every Node superd supports.

/** The four bets, each a file of this folder. */
export type Bet = 'accept' | 'stream' | 'fd' | 'pipe';
export const BETS: readonly Bet[] = ['accept', 'stream', 'fd', 'pipe'];

/**
 * Why a bet is not taken: `avoided` (--avoid-internals asked so), `missing`
 * (this Node does not have it), `misbehaved` (it is there but did not do
 * what superd needs), `untested` (the check could not be made: no loopback
 * connection, no native layer to make a pipe with).
 */
export type Why = 'avoided' | 'missing' | 'misbehaved' | 'untested';

export interface BetOutcome {
  readonly ok: boolean;
  /** Null when ok. */
  readonly why: Why | null;
  /** What was seen, in words: why it failed, or what proved it. */
  readonly detail: string;
}

export interface InternalsPaths {
  /** `handle`: the bare accepted handle (accept.ts); `connection`: the net.Server's 'connection' event. */
  readonly accept: 'handle' | 'connection';
  /** For builtins: `handle`, a net.Socket built on the accepted handle; `connection`, the event's own net.Socket. */
  readonly stream: 'handle' | 'connection';
  /** `_handle`: a net.Socket's descriptor as its handle shows it; `none`: not to be had (superd does not start). */
  readonly fd: '_handle' | 'none';
  /** `pipe_wrap`: libuv's pipe handle read directly (pipe.ts); `socket`: a net.Socket on the descriptor. */
  readonly pipe: 'pipe_wrap' | 'socket';
}

export const INTERNAL_PATHS: InternalsPaths = { accept: 'handle', stream: 'handle', fd: '_handle', pipe: 'pipe_wrap' };

let chosen: InternalsPaths = INTERNAL_PATHS;

/** At start, once: the paths check.ts chose. */
export function usePaths(paths: InternalsPaths): void {
  chosen = paths;
}

export function currentPaths(): InternalsPaths {
  return chosen;
}
