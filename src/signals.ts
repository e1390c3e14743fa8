// Which signals superd acts on, which it ignores, and those that came before
// it could act. Handlers only ask (the daemon does the work from the event
// loop), as OpenBSD inetd's do.
//
// Every signal whose default action would end or stop the daemon, or that
// Node gives a meaning of its own (SIGUSR1 opens the inspector: anyone who can
// signal superd could then run JavaScript as root), is caught: a JavaScript
// listener replaces the default, and the inspector stays closed (SPEC §5).
// Caught, not SIG_IGN: a caught signal is back at its default in a handler
// after exec, an ignored one would be inherited.
//
// Left at their defaults: SIGKILL and SIGSTOP (no process can catch them),
// SIGQUIT (an operator's deliberate core dump), SIGPROF (V8's profiler
// samples with it), and the faults (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP,
// SIGSYS), which a return from a handler would only repeat.

/** The signals the daemon acts on (superd.8, SIGNALS); SIGCHLD is libuv's. */
export const ACTED_ON = ['SIGHUP', 'SIGTERM', 'SIGINT', 'SIGUSR2'] as const satisfies readonly NodeJS.Signals[];

/** Caught and otherwise ignored; the first of each logged once (event `signal_ignored`). */
export const IGNORED = [
  'SIGUSR1',
  'SIGPIPE',
  'SIGALRM',
  'SIGVTALRM',
  'SIGURG',
  'SIGWINCH',
  'SIGIO',
  'SIGPWR',
  'SIGSTKFLT',
  'SIGXCPU',
  'SIGXFSZ',
  'SIGTSTP',
  'SIGTTIN',
  'SIGTTOU',
] as const satisfies readonly NodeJS.Signals[];

interface Early {
  /** Acted-on signals, in arrival order. */
  readonly acted: NodeJS.Signals[];
  /** Ignored signals seen, once each. */
  readonly ignored: Set<NodeJS.Signals>;
  readonly release: () => void;
}

const EARLY_KEY = Symbol.for('superd.earlySignals');
/** When holdEarlySignals ran, in ms since the process started (performance.now()): how long a signal would have ended it. */
let heldAt: number | null = null;

/** How long this process ran before its signals were caught (null: not held early); an upgrade logs it (superd.8, BUGS). */
export function unguardedMs(): number | null {
  return heldAt;
}
type WithEarly = typeof globalThis & { [EARLY_KEY]?: Early };

/**
 * Catches every signal of both lists at once, before the CLI has loaded
 * (bin/superd, the daemon only): a reload or stop sent in the few hundred
 * milliseconds of loading is kept for the daemon to act on, and none of them
 * can end superd or open the inspector meanwhile.
 */
export function holdEarlySignals(): void {
  heldAt = performance.now();
  const acted: NodeJS.Signals[] = [];
  const ignored = new Set<NodeJS.Signals>();
  const keep = (signal: NodeJS.Signals): void => void acted.push(signal);
  const note = (signal: NodeJS.Signals): void => void ignored.add(signal);
  for (const signal of ACTED_ON) process.on(signal, keep);
  for (const signal of IGNORED) process.on(signal, note);
  const release = (): void => {
    for (const signal of ACTED_ON) process.off(signal, keep);
    for (const signal of IGNORED) process.off(signal, note);
  };
  (globalThis as WithEarly)[EARLY_KEY] = { acted, ignored, release };
}

export type SignalActions = Record<(typeof ACTED_ON)[number], () => void>;

/**
 * The daemon's listeners: `actions` for the signals it acts on, and for each
 * ignored one a line the first time it comes (`note`), never again, so a
 * flood of them logs one line. Those held since start are then acted on or
 * noted, in the order they came, and the early listeners go: there is no
 * moment with a default action in between.
 */
export function catchSignals(actions: SignalActions, note: (signal: NodeJS.Signals) => void): void {
  const noted = new Set<NodeJS.Signals>();
  const ignore = (signal: NodeJS.Signals): void => {
    if (noted.has(signal)) return;
    noted.add(signal);
    note(signal);
  };
  for (const signal of ACTED_ON) process.on(signal, actions[signal]);
  for (const signal of IGNORED) process.on(signal, ignore);
  const g = globalThis as WithEarly;
  const early = g[EARLY_KEY];
  if (early === undefined) return;
  delete g[EARLY_KEY];
  early.release();
  for (const signal of early.ignored) ignore(signal);
  for (const signal of early.acted) actions[signal as (typeof ACTED_ON)[number]]();
}
