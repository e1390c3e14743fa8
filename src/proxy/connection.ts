// A connection whose PROXY header has been read and removed: the client the
// header names is its remote end everywhere (env, logs, only_from and the
// per-source rules), the peer that sent the header is kept as `balancer`
// (PROXYREMOTEIP, PROXYREMOTEPORT). LOCAL keeps the connection's own peer.
// Everything else is the accepted connection's own.
import type { Duplex } from 'node:stream';
import type { Connection, Proto } from '../listen/connection.js';
import type { Endpoint } from './types.js';

class ProxiedConnection implements Connection {
  readonly balancer: { readonly address: string; readonly port: number };

  constructor(
    private readonly inner: Connection,
    private readonly client: Endpoint,
  ) {
    this.balancer = { address: inner.remoteAddress, port: inner.remotePort };
  }

  get proto(): Proto {
    return this.inner.proto;
  }
  get remoteAddress(): string {
    return this.client.address;
  }
  get remotePort(): number {
    return this.client.port;
  }
  get localAddress(): string {
    return this.inner.localAddress;
  }
  get localPort(): number {
    return this.inner.localPort;
  }
  get gone(): boolean {
    return this.inner.gone;
  }
  reset(): boolean {
    return this.inner.reset();
  }
  socketFd(): number {
    return this.inner.socketFd();
  }
  descriptor(): number {
    return this.inner.descriptor();
  }
  stream(): Duplex {
    return this.inner.stream();
  }
  close(): void {
    this.inner.close();
  }
}

/** `conn` served as coming from `client` (null: LOCAL, its own peer), through the balancer that is its peer. */
export function proxiedConnection(conn: Connection, client: Endpoint | null): Connection {
  return new ProxiedConnection(conn, client ?? { address: conn.remoteAddress, port: conn.remotePort });
}
