// The one error type of the native layer, and the one errno formatter.
import { getSystemErrorMap } from 'node:util';
import type { SuperdError } from '../errors.js';

/**
 * What a native call or the native layer itself could not do: `code` is the
 * errno name ('EADDRINUSE') or, for the layer as a whole, 'ENOSYS'; the
 * message says what happened in words a user can act on. An Error, so
 * `instanceof Error` tells it from any value the layer returns.
 */
export class SysError extends Error implements SuperdError {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'SysError';
    this.code = code;
  }
}

export function isSysError(x: unknown): x is SysError {
  return x instanceof SysError;
}

const messages = getSystemErrorMap();

/** `no such file or directory (ENOENT)` for a positive errno value. */
export function strerror(errno: number): string {
  const entry = messages.get(-errno);
  return entry === undefined ? `errno ${errno}` : `${entry[1]} (${entry[0]})`;
}

/** A positive errno value as a SysError: `address already in use (EADDRINUSE)`, after `context: ` when given. */
export function errnoError(errno: number, context?: string): SysError {
  const name = messages.get(-errno)?.[0] ?? `E${errno}`;
  const text = strerror(errno);
  return new SysError(name, context === undefined ? text : `${context}: ${text}`);
}
