// Signals that arrived while the CLI was loading, kept by bin/superd so that
// they neither kill the daemon nor get lost: the daemon acts on them once its
// own handlers are in place.

type Taker = () => NodeJS.Signals[];

/** Stops keeping signals and returns those kept, in arrival order (none when bin/superd kept none). */
export function takeEarlySignals(): NodeJS.Signals[] {
  const take = (globalThis as { superdEarlySignals?: Taker }).superdEarlySignals;
  return typeof take === 'function' ? take() : [];
}
