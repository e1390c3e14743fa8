// What superd does with an exception nothing caught (a throw from a callback,
// a rejected promise no one awaited).
//
// Policy: log it once, with its stack, as `internal_error`; remove the pid
// file and the control socket; write out the log; exit 70 (EX_SOFTWARE,
// sysexits.h), for the service manager to restart superd. It does not try to
// keep serving: the exception left some operation half done (a count of
// running handlers or per-source slots, a handler not yet watched, a socket
// not yet rearmed), and superd cannot tell which; a daemon that looks up but
// refuses, leaks or never reaps is worse than a restart, which takes a second
// and rebuilds every invariant from the service files. Running handlers are
// left alone: they hold their own connections and finish them (a service
// manager that ends the whole unit, as systemd does by default, ends them
// too). The listening sockets close with the process; the unix socket files
// they leave are stale, and the next superd replaces them.
import type { Logger } from './log/types.js';

/** sysexits.h: an internal software error has been detected. */
export const EX_SOFTWARE = 70;
/** The whole exit path takes at most this long, whatever hangs in it. */
export const FATAL_DEADLINE_MS = 2000;

export type FatalOrigin = 'uncaughtException' | 'unhandledRejection';

export interface FatalContext {
  logger: Pick<Logger, 'log' | 'close'>;
  /** Removes what superd made that a restart should not find (pid file, control socket). May fail or hang. */
  cleanup(): Promise<void>;
  exit(code: number): void;
  deadlineMs?: number;
}

/** The error's message and stack, whatever was thrown. */
export function describeThrown(thrown: unknown): { error: string; stack: string } {
  if (thrown instanceof Error) return { error: thrown.message, stack: thrown.stack ?? `${thrown.name}: ${thrown.message}` };
  let text: string;
  try {
    text = typeof thrown === 'string' ? thrown : JSON.stringify(thrown) ?? String(thrown);
  } catch {
    text = String(thrown);
  }
  return { error: text, stack: '(no stack: a value that is not an Error was thrown)' };
}

/**
 * The handler for both process events. A second exception while it runs
 * (the exit path itself broken) exits at once.
 */
export function fatalHandler(ctx: FatalContext): (thrown: unknown, origin: FatalOrigin) => void {
  let exiting = false;
  const exitNow = (): void => ctx.exit(EX_SOFTWARE);
  return (thrown, origin) => {
    const { error, stack } = describeThrown(thrown);
    const again = exiting;
    exiting = true;
    try {
      ctx.logger.log('error', 'internal_error', {
        origin,
        error,
        stack,
        message: again ? 'while exiting after an earlier internal error' : `superd exits with status ${EX_SOFTWARE} to be restarted by its service manager`,
      });
    } catch {
      // The log itself may be what failed: exit anyway.
    }
    if (again) return exitNow();
    const deadline = setTimeout(exitNow, ctx.deadlineMs ?? FATAL_DEADLINE_MS);
    const settle = (p: () => Promise<void>): Promise<void> => Promise.resolve().then(p).catch(() => undefined);
    void settle(() => ctx.cleanup())
      .then(() => settle(() => ctx.logger.close()))
      .then(() => {
        clearTimeout(deadline);
        exitNow();
      });
  };
}

/** Installs the handler for the life of the process. */
export function installFatalHandler(handler: (thrown: unknown, origin: FatalOrigin) => void): void {
  process.on('uncaughtException', (err) => handler(err, 'uncaughtException'));
  process.on('unhandledRejection', (reason) => handler(reason, 'unhandledRejection'));
}
