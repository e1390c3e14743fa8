// What the new image took back of an upgrade's state for each service
// (resume.ts), held by the service set until the first load's runtimes take
// it (service/set.ts), and the handlers of services that are gone.
import type { Connection } from '../listen/connection.js';
import type { PassedBuiltin, PassedHandler } from './state.js';

/** What an upgrade passed for one service. */
export interface Passed {
  handlers: PassedHandler[];
  queued: PassedConnectionOf[];
  builtins: PassedBuiltinOf[];
}

/** A connection a builtin was serving at an upgrade, and what the state said of it. */
export interface PassedBuiltinOf {
  conn: Connection;
  passed: PassedBuiltin;
}

/** A connection an upgrade passed: queued, or (header) still to have its PROXY header read. */
export interface PassedConnectionOf {
  conn: Connection;
  header: boolean;
}

/** Handlers an upgrade passed whose service is gone: counted, and signalled at shutdown. */
export interface Orphans {
  readonly count: number;
  signalAll(signal: NodeJS.Signals): void;
}
