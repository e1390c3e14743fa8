// One interface for starting a handler, whatever does the starting: see
// spawner.ts for which implementation serves which request, and why.
import type { Readable } from 'node:stream';
import type { Credentials, StderrMode } from '../config/types.js';
import type { SuperdError } from '../errors.js';

export interface SpawnRequest {
  program: string;
  /** argv[0] included. */
  argv: string[];
  /** `NAME=value` strings: the handler's whole environment. */
  env: string[];
  /** The connection: becomes the handler's fd 0 and fd 1. */
  fd: number;
  stderr: StderrMode;
  credentials: Credentials | null;
}

export interface ExitStatus {
  /** Exit status, or null when a signal ended it. */
  code: number | null;
  /** Signal name (`SIGTERM`), or null. */
  signal: string | null;
}

export interface SpawnedHandler {
  pid: number;
  /** The read end of the handler's standard error when `stderr = log`. */
  stderr: Readable | null;
}

export interface Spawner {
  /** Which mechanism this is, for logs and the benchmark notes. */
  readonly name: string;
  /**
   * Starts the handler. `onExit` is called exactly once, after the process has
   * been reaped. On failure nothing was started and nothing needs cleaning up.
   */
  spawn(request: SpawnRequest, onExit: (status: ExitStatus) => void): SpawnedHandler | SuperdError;
}

export function isSpawnError(r: SpawnedHandler | SuperdError): r is SuperdError {
  return 'code' in r && typeof (r as SuperdError).code === 'string';
}
