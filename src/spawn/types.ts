// One interface for starting a handler, whatever does the starting: see
// spawner.ts for which implementation serves which request, and why.
import type { Readable } from 'node:stream';
import type { Credentials, ProcessSettings, StderrMode } from '../config/types.js';
import type { SuperdError } from '../errors.js';
import type { StderrPipe } from '../stderr/pipe.js';

export interface SpawnRequest {
  program: string;
  /** argv[0] included. */
  argv: string[];
  /** `NAME=value` strings: the handler's whole environment. */
  env: string[];
  /** The connection: becomes the handler's fd 0 and fd 1. Open until `onStarted`. */
  fd: number;
  stderr: StderrMode;
  credentials: Credentials | null;
  /** The service's nice, umask, limits…: absent when it sets none (settings.ts). */
  settings?: ProcessSettings | undefined;
}

export interface ExitStatus {
  /** Exit status, or null when a signal ended it. */
  code: number | null;
  /** Signal name (`SIGTERM`), or null. */
  signal: string | null;
}

export interface SpawnedHandler {
  pid: number;
  /**
   * The read end of the handler's standard error when `stderr = log`:
   * child_process's stream, or posix_spawn's pipe as the spawner's
   * StderrPipes carries it (a bare descriptor from a PosixSpawner on its own).
   */
  stderr: Readable | StderrPipe | number | null;
}

export type SpawnResult = SpawnedHandler | SuperdError;

export interface Spawner {
  /** Which mechanism this is, for logs and the benchmark notes. */
  readonly name: string;
  /**
   * Starts the handler. `onStarted` is called exactly once, when the handler
   * runs or could not be started (then nothing needs cleaning up); the
   * request's fd must stay open until then. `onExit` follows it exactly once,
   * after the process has been reaped.
   */
  spawn(request: SpawnRequest, onStarted: (result: SpawnResult) => void, onExit: (status: ExitStatus) => void): void;
  /** An upgrade in place (src/upgrade/): a handler the old image started, reaped from now on; `onExit` once. */
  adopt?(pid: number, onExit: (status: ExitStatus) => void): void;
  /** Before an upgrade: every stderr pipe out of its parking (stderr/park.ts), so that its descriptor can be passed on. */
  unparkStderr?(): void;
}

export function isSpawnError(r: SpawnResult): r is SuperdError {
  return 'code' in r && typeof (r as SuperdError).code === 'string';
}
