// Errors are values: a stable code for programs and tests, and a message a
// person can act on. Config errors also say where (file, line, service).

export interface SuperdError {
  code: string;
  message: string;
}

/**
 * An error value rather than what was asked for: anything with a string
 * code and message and no fd (a SysError, a superd error value, a Node errno
 * error). For callers whose values may come from Node or from the native
 * layer (sys/), where a success is an object with an fd.
 */
export function isErrorValue(x: unknown): x is SuperdError {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as { code?: unknown; message?: unknown; fd?: unknown };
  return typeof r.code === 'string' && typeof r.message === 'string' && r.fd === undefined;
}

export interface ConfigError extends SuperdError {
  file: string;
  /** 0 when the problem is the file as a whole (unreadable, unsafe). */
  line: number;
  service: string | null;
}

export function configError(
  code: string,
  file: string,
  line: number,
  service: string | null,
  message: string,
): ConfigError {
  return { code, file, line, service, message };
}

/** `FILE:LINE: [service] message`, the form `superd check` prints. */
export function formatConfigError(e: ConfigError): string {
  const where = e.service === null ? '' : `[${e.service}] `;
  return `${e.file}:${e.line}: ${where}${e.message}`;
}

export type Result<T, E = SuperdError> = { ok: true; value: T } | { ok: false; error: E };

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const fail = <E>(error: E): Result<never, E> => ({ ok: false, error });

/** What a thrown value says: an Error's message, anything else as a string. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
