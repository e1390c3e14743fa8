// When a wait service's socket is watched again after its handler is gone.
// A handler that exits at once without reading (a crash at start, a missing
// program, a misconfigured one) leaves the socket readable, and watching it
// again at once would start the next one at once, forever: a busy loop. So
// such rounds back off, doubling up to a ceiling; any handler that ran a while
// or left the socket drained resets it. Pure, so it is tested without sockets.

/** A handler that ended sooner than this without draining its socket made no progress. */
export const QUICK_EXIT_MS = 1000;
/** Rounds without progress before the first delay: one crash is not a loop. */
export const FREE_RETRIES = 2;
export const FIRST_DELAY_MS = 1000;
export const MAX_DELAY_MS = 60_000;

export interface WaitRound {
  /** How long the handler ran; 0 when it could not be started. */
  ranMs: number;
  /** The socket still has something to read now that the handler is gone. */
  pending: boolean;
}

export interface Rearm {
  /** Rounds in a row without progress, this one included. */
  fruitless: number;
  /** How long to wait before watching the socket again. */
  delayMs: number;
}

export function planRearm(fruitlessBefore: number, round: WaitRound): Rearm {
  const fruitless = round.ranMs < QUICK_EXIT_MS && round.pending ? fruitlessBefore + 1 : 0;
  if (fruitless <= FREE_RETRIES) return { fruitless, delayMs: 0 };
  const doublings = Math.min(fruitless - FREE_RETRIES - 1, 16);
  return { fruitless, delayMs: Math.min(FIRST_DELAY_MS * 2 ** doublings, MAX_DELAY_MS) };
}
