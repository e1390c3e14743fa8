// A connection whose TLS handshake is done (handshake.ts): the same client
// and addresses, and the session's facts for the handler's environment
// (facts.ts). A builtin is served on the session itself (stream()); a
// program gets one end of a unix socketpair as its fd 0 and 1
// (descriptor()), and superd copies between the session and the other end
// (relay.ts) until both directions are over, after the handler is gone if
// need be. superd's end is never a handler's: it is made close-on-exec.
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Connection, Proto } from '../listen/connection.js';
import { SysError } from '../sys/errors.js';
import { closeDescriptor, streamPair } from '../sys/sockets.js';
import type { TlsFacts } from './facts.js';
import { relay } from './relay.js';

class TlsConnection implements Connection {
  /** The handler's end of the socketpair while superd holds it (until close()), else -1. */
  private handlerEnd = -1;
  /** tls: the session waits (queued); served: a builtin or the relay has it; closed: dropped unserved. */
  private state: 'tls' | 'served' | 'closed' = 'tls';

  constructor(
    private readonly inner: Connection,
    private readonly session: TLSSocket,
    readonly tls: TlsFacts,
  ) {}

  get proto(): Proto {
    return this.inner.proto;
  }
  get remoteAddress(): string {
    return this.inner.remoteAddress;
  }
  get remotePort(): number {
    return this.inner.remotePort;
  }
  get localAddress(): string {
    return this.inner.localAddress;
  }
  get localPort(): number {
    return this.inner.localPort;
  }
  get balancer(): Connection['balancer'] {
    return this.inner.balancer;
  }
  get gone(): boolean {
    return this.session.destroyed;
  }
  /** The client reset (or its session failed) while it waited; one that only ended its half is served. */
  reset(): boolean {
    return this.state === 'tls' && this.session.destroyed;
  }
  /** Nothing to read off it: its bytes are the session's. */
  socketFd(): number {
    return -1;
  }

  /** The handler's end of a new socketpair, the relay started on the other; -1 when no pair could be made (the spawn then fails and says so). */
  descriptor(): number {
    if (this.handlerEnd >= 0 || this.state !== 'tls') return this.handlerEnd;
    const pair = streamPair();
    if (pair instanceof SysError) return -1;
    const [handlerEnd, own] = pair;
    let plain: Socket;
    try {
      plain = new Socket({ fd: own, allowHalfOpen: true, readable: true, writable: true });
    } catch {
      closeDescriptor(own);
      closeDescriptor(handlerEnd);
      return -1;
    }
    this.state = 'served';
    this.handlerEnd = handlerEnd;
    relay(this.session, plain);
    return handlerEnd;
  }

  stream(): Duplex {
    this.state = 'served';
    return this.session;
  }

  /** The handler has its copy (or none): superd's copy of its end goes, the relay goes on. Unserved: the session is dropped. */
  close(): void {
    if (this.handlerEnd >= 0) {
      closeDescriptor(this.handlerEnd);
      this.handlerEnd = -1;
      return;
    }
    if (this.state !== 'tls') return;
    this.state = 'closed';
    this.session.destroy();
  }
}

/** `conn` once its handshake is done on `session`. */
export function tlsConnection(conn: Connection, session: TLSSocket, facts: TlsFacts): Connection {
  return new TlsConnection(conn, session, facts);
}
