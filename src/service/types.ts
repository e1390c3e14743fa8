// What a service's runtime is given, and what it counts. The daemon makes one
// context for every service, and keeps each name's figures across the
// runtimes a reload puts in its place (SPEC §6); `superd status` shows them
// (control/status.ts renders them).
import type { Logger } from '../log/types.js';
import type { Spawner } from '../spawn/types.js';
import type { FdPressure } from './fdpressure.js';

export interface RuntimeContext {
  spawner: Spawner;
  logger: Logger;
  /** Shared by every service: running out of descriptors is one episode for the whole daemon. */
  fdPressure: FdPressure;
  /** superd's own environment, for PATH and pass_env. */
  environment: NodeJS.ProcessEnv;
}

/** A service's last bind or spawn error, and when. */
export interface LastError {
  time: string;
  kind: 'bind' | 'spawn';
  message: string;
}

export interface ServiceStats {
  accepted: number;
  failed: number;
  refused: Record<string, number>;
  lastError: LastError | null;
}

/** The figures of a service that has served nothing yet. */
export function newStats(): ServiceStats {
  return { accepted: 0, failed: 0, refused: {}, lastError: null };
}

/** Recorded as the service's last error (status), now. */
export function lastError(kind: LastError['kind'], message: string): LastError {
  return { time: new Date().toISOString(), kind, message };
}
