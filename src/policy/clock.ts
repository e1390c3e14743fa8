// Time for the policy state, injectable so tests need not wait a minute.

export interface Clock {
  /** Milliseconds; only differences matter. */
  now(): number;
}

// Monotonic: a wall-clock step (NTP, an operator's `date`) must neither
// refill every bucket at once nor freeze them.
export const systemClock: Clock = { now: () => performance.now() };
