// Unix stream socket clients for the tests (protocol = unix services): the
// same one-shot exchange and connect probe as clients.ts offers over TCP.
// Every wait here is bounded.
import { createConnection } from 'node:net';
import { exchangeOver, tryConnectWith, type Exchange } from './clients.js';

/**
 * Connects to the socket at `path`, sends `payload`, half-closes (unless
 * halfClose is false) and reads until the server closes. Resolves with what
 * arrived and how it ended ('end' or the error code, e.g. ENOENT,
 * ECONNREFUSED); rejects if the server has not closed within timeoutMs.
 */
export function unixExchange(path: string, payload: Buffer | string, opts: { timeoutMs?: number; halfClose?: boolean } = {}): Promise<Exchange> {
  return exchangeOver(() => createConnection({ path }), path, payload, opts.timeoutMs ?? 3000, opts.halfClose);
}

/** 'connected' when the unix socket at `path` accepts a connection (closed again at once), else the error code. */
export function tryConnectUnix(path: string, timeoutMs = 3000): Promise<string> {
  return tryConnectWith(() => createConnection({ path }), timeoutMs);
}
