// A connection's remote end, as the per-source rules and the log lines see it.
import type { Connection } from '../listen/connection.js';
import type { LogFields } from '../log/types.js';

/** What the per-source rules judge: the remote address, or '' for a unix client (it has none). */
export function sourceOf(conn: Connection): string {
  return conn.proto === 'UNIX' ? '' : conn.remoteAddress;
}

/** A connection's remote end for logs; a unix connection and a wait socket have none. */
export function remoteFields(conn: Connection | null): LogFields {
  if (conn === null || conn.proto === 'UNIX') return {};
  return { remote: conn.remoteAddress, remote_port: conn.remotePort };
}
