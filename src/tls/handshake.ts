// The TLS handshake on the accept path (SPEC §2 tls_cert; issue 28), for one
// service: after the PROXY header (if any) and the access rules, before the
// connection is counted, queued or served, so a client slow to shake hands
// holds no handler slot and no per-source count. Node's TLSSocket does the
// handshake over the accepted connection, with the context the load made of
// the service's files (config/tls-files.ts). tls_timeout bounds the whole
// handshake, and at most MAX_HANDSHAKES connections of a service shake hands
// at once: each is a descriptor and a little of OpenSSL's memory, and clients
// that connect and send nothing must not take them all. A failure, a
// timeout, a client certificate that does not verify: the connection is
// closed and refused (reason tls) with what went wrong; nothing starts.
import { TLSSocket } from 'node:tls';
import type { TlsSettings } from '../config/types.js';
import type { Connection } from '../listen/connection.js';
import { tlsConnection } from './connection.js';
import { factsOf } from './facts.js';

/** Connections of one service in their handshake at once; more are refused (superd.conf(5)). */
export const MAX_HANDSHAKES = 128;

/** Where start() reports: a connection whose session is up, to judge and serve; or one already closed, to log as refused (reason tls). */
export interface HandshakeOutcome {
  served(conn: Connection): void;
  refused(conn: Connection, message: string): void;
}

interface Pending {
  readonly conn: Connection;
  readonly socket: TLSSocket;
  readonly timer: NodeJS.Timeout;
}

export class Handshakes {
  private readonly pending = new Set<Pending>();

  constructor(private readonly outcome: HandshakeOutcome) {}

  /** Connections in their handshake now. */
  get count(): number {
    return this.pending.size;
  }

  /** A connection the access rules let in: served or refused once its handshake is over. */
  start(conn: Connection, tls: TlsSettings): void {
    const refuse = (message: string): void => {
      conn.close();
      this.outcome.refused(conn, message);
    };
    if (tls.loaded === null) return refuse('the certificate and key of the service were not loaded');
    if (this.pending.size >= MAX_HANDSHAKES) return refuse(`${MAX_HANDSHAKES} connections of this service are already in their TLS handshake`);
    const raw = conn.stream();
    // Each side may end its half and still read the other's (issue 28: half-close passed on).
    raw.allowHalfOpen = true;
    let socket: TLSSocket;
    try {
      const clientCerts = tls.clientCa !== null;
      socket = new TLSSocket(raw as ConstructorParameters<typeof TLSSocket>[0], { isServer: true, secureContext: tls.loaded.context.secureContext, requestCert: clientCerts, rejectUnauthorized: clientCerts });
    } catch (err) {
      raw.destroy();
      return this.outcome.refused(conn, `cannot start a TLS session: ${errorText(err)}`);
    }
    const p: Pending = { conn, socket, timer: setTimeout(() => this.fail(p, `no TLS handshake within tls_timeout (${tls.timeout} s)`), tls.timeout * 1000) };
    this.pending.add(p);
    // Stays for the socket's life: an error after the handshake only ends it (tls/relay.ts says what then).
    socket.on('error', (err) => this.fail(p, `TLS handshake failed: ${errorText(err)}`));
    socket.once('close', () => this.fail(p, 'the client closed the connection during the TLS handshake'));
    socket.once('secure', () => this.secured(p, tls));
  }

  /** Shutdown: every handshake under way is cut short, unserved and unlogged. */
  closeAll(): void {
    for (const p of [...this.pending]) this.settle(p);
    this.pending.clear();
  }

  private secured(p: Pending, tls: TlsSettings): void {
    const refusal = tls.clientCa === null ? null : clientCertificateRefusal(p.socket);
    if (refusal !== null) return this.fail(p, refusal);
    if (!this.settle(p, false)) return;
    this.outcome.served(tlsConnection(p.conn, p.socket, factsOf(p.socket)));
  }

  private fail(p: Pending, message: string): void {
    if (this.settle(p)) this.outcome.refused(p.conn, message);
  }

  /** Out of the set (false if it was no longer there), its timer stopped, and its socket destroyed unless it goes on. */
  private settle(p: Pending, destroy = true): boolean {
    if (!this.pending.delete(p)) return false;
    clearTimeout(p.timer);
    if (destroy) p.socket.destroy();
    return true;
  }
}

/**
 * Why the client's certificate is not accepted, or null. OpenSSL refuses a
 * client that sends none during the handshake (tls_client_ca makes one
 * required); a certificate that does not verify against tls_client_ca is
 * let through by Node's own verify callback, which keeps the verdict on the
 * session for its owner to read when the handshake is done, as tls.Server
 * does before it emits 'secureConnection'. No verdict to be had is a refusal.
 */
export function clientCertificateRefusal(socket: TLSSocket): string | null {
  const session = (socket as unknown as { ssl?: { verifyError?: () => unknown } }).ssl;
  if (typeof session?.verifyError !== 'function') return 'client certificate not checked: this Node gives no verdict on it';
  const verdict = session.verifyError();
  if (verdict === null || verdict === undefined || verdict === '') return null;
  const code = typeof verdict === 'string' ? verdict : (verdict as { code?: unknown }).code;
  return `client certificate refused: ${typeof code === 'string' ? code : errorText(verdict)}`;
}

/** OpenSSL's reason where there is one (`wrong version number`, `sslv3 alert certificate expired`), else the message. */
function errorText(err: unknown): string {
  const e = err as { reason?: unknown; message?: unknown; code?: unknown };
  if (typeof e?.reason === 'string' && e.reason !== '') return e.reason;
  if (typeof e?.message === 'string') return e.message.replace(/^error:[0-9A-Fa-f]+:[^:]*::?/, '');
  return String(err);
}
