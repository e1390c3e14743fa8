// A stream connection between its accept and its admission (SPEC §2): with
// proxy_protocol its PROXY header is read off it first (proxy/read.ts), so
// the client it names is the one judged; then, with tls_cert, the access
// rules (a client only_from refuses costs no handshake) and the TLS
// handshake (tls/handshake.ts). Neither step holds a handler slot or a
// per-source count, and each is bounded per service. What comes through is
// the runtime's to admit; what is refused is closed and logged here.
import type { ServiceDefinition } from '../config/types.js';
import type { Connection } from '../listen/connection.js';
import type { LogFields } from '../log/types.js';
import type { ServicePolicy } from '../policy/verdict.js';
import { HeaderReader } from '../proxy/read.js';
import { Handshakes } from '../tls/handshake.js';
import { remoteFields, sourceOf } from './remote.js';

export interface ArrivalOutcome {
  /** Through every step: judged for a slot now. */
  admit(conn: Connection): void;
  refuse(address: string, fields: LogFields, reason: string): void;
  /** Its client left before its PROXY header was whole (a balancer's health check, often): not a refusal. */
  dropped(conn: Connection, reason: 'client_reset' | 'client_closed'): void;
  /** A connection left a step (served or refused): the runtime may be drained now. */
  settled(): void;
}

export class Arrivals {
  /** proxy_protocol: connections whose PROXY header is being read. */
  private readonly headers: HeaderReader;
  /** tls_cert: connections in their TLS handshake. */
  private readonly handshakes: Handshakes;

  constructor(
    /** The service's definition as it is now: a reload may update it while connections arrive. */
    private readonly definition: () => ServiceDefinition,
    private readonly policy: ServicePolicy,
    private readonly out: ArrivalOutcome,
  ) {
    this.headers = new HeaderReader({
      served: (conn) => this.passed(() => this.secure(conn)),
      refused: (conn, message) => this.refused(conn, 'proxy_header', message),
      gone: (conn, reason) => this.passed(() => out.dropped(conn, reason)),
    });
    this.handshakes = new Handshakes({ served: (conn) => this.passed(() => out.admit(conn)), refused: (conn, message) => this.refused(conn, 'tls', message) });
  }

  /** Connections in a step now (their header or their handshake under way). */
  get count(): number {
    return this.headers.count + this.handshakes.count;
  }

  /** The connections waiting for their PROXY header (an upgrade passes them on, still unread). */
  waitingForHeader(): Connection[] {
    return this.headers.waiting();
  }

  /** A connection just accepted (or one whose header an upgrade left unread): through the steps its service has. */
  arrive(conn: Connection): void {
    const { proxy } = this.definition();
    // With proxy_protocol, judged once its header says who the client is.
    if (proxy === null || conn.gone) this.secure(conn);
    else this.headers.read(conn, proxy);
  }

  /** Shutdown: every connection in a step is closed, unserved and unlogged. */
  closeAll(): void {
    this.headers.closeAll();
    this.handshakes.closeAll();
  }

  /** tls_cert: a client the access rules let in gets its handshake; the rest of the judging follows it. */
  private secure(conn: Connection): void {
    const { tls } = this.definition();
    if (tls === undefined || conn.gone) return this.out.admit(conn);
    const refusal = this.policy.accessRefusal(sourceOf(conn));
    if (refusal === null) return this.handshakes.start(conn, tls);
    conn.close();
    this.out.refuse(sourceOf(conn), remoteFields(conn), refusal);
  }

  private passed(next: () => void): void {
    next();
    this.out.settled();
  }

  private refused(conn: Connection, reason: 'proxy_header' | 'tls', message: string): void {
    conn.close();
    this.out.refuse(sourceOf(conn), { ...remoteFields(conn), message }, reason);
    this.out.settled();
  }
}
