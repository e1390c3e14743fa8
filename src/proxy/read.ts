// Reading a PROXY header on the accept path (SPEC §2, proxy_protocol), for
// one service: before the connection is judged or queued, so a client slow
// to send its header holds no handler slot and no per-source count.
//
// First the peer must be in proxy_from (no one else's header is believed).
// Then superd looks at what has arrived without taking it (recv MSG_PEEK,
// sys/sockets.ts) and parses it (header.ts): once a header is complete,
// exactly its length is read off the socket, so the handler's first byte is
// the client's first byte. Most headers are whole at the first look (the
// sender writes one at once). When one is not, superd waits without
// blocking the event loop and without spinning: the bytes that came stay
// unread, so a level-triggered watch would fire again at once; the
// connection is watched edge-triggered instead (listen/readiness.ts,
// watchArrivals), which wakes superd once per arrival, and each arrival is
// one more look. proxy_timeout bounds the whole wait, and at most
// MAX_WAITING connections of a service wait at once: each is a descriptor,
// and a balancer (or whoever is in proxy_from) that opens connections and
// sends nothing must not take them all.
import type { ProxySettings } from '../config/types.js';
import type { Connection } from '../listen/connection.js';
import { readiness, type Readiness } from '../listen/readiness.js';
import { accessRules, type AccessRules } from '../policy/access.js';
import { SysError } from '../sys/errors.js';
import { TCP_CLOSE, TCP_CLOSE_WAIT } from '../sys/constants.js';
import { receive, tcpState } from '../sys/sockets.js';
import { proxiedConnection } from './connection.js';
import { maxHeaderLength, parseHeader, V2_MAX } from './header.js';

/** Connections of one service waiting for their header at once; more are refused (superd.conf(5)). */
export const MAX_WAITING = 128;
/**
 * How long the readiness thread is kept after a connection on a
 * proxy_protocol service: starting it takes some 100 ms, which every header
 * that arrives after its connection is accepted would otherwise wait while
 * connections come less than a second apart.
 */
export const KEEP_THREAD_MS = 60_000;

/**
 * Where read() reports: a connection to serve as the header says, one to
 * close and log as refused (reason proxy_header), or one whose client left
 * before its header was whole (a balancer's health check often resets right
 * after its header): nothing superd refused, so no warning and no refusal.
 * A refused or gone connection is closed already when it is reported.
 */
export interface HeaderOutcome {
  served(conn: Connection): void;
  refused(conn: Connection, message: string): void;
  gone(conn: Connection, reason: 'client_reset' | 'client_closed'): void;
}

interface Waiting {
  readonly conn: Connection;
  readonly fd: number;
  readonly settings: ProxySettings;
  readonly timer: NodeJS.Timeout;
}

/** What has arrived, looked at: one buffer for every look (each is synchronous), as long as the longest header. */
const scratch = Buffer.allocUnsafe(V2_MAX);

export class HeaderReader {
  private readonly pending = new Map<Connection, Waiting>();
  private trusted: { from: readonly string[]; rules: AccessRules | null } | null = null;

  constructor(private readonly outcome: HeaderOutcome) {}

  /** Connections waiting for the rest of their header. */
  get count(): number {
    return this.pending.size;
  }

  /** A connection accepted on a proxy_protocol service: served or refused, now or once its header is in. */
  read(conn: Connection, settings: ProxySettings): void {
    const why = this.untrusted(conn, settings);
    if (why !== null) return this.refuse(conn, why);
    const fd = conn.socketFd();
    if (fd < 0) return this.refuse(conn, 'the connection has no descriptor superd can read the PROXY header from');
    const watcher = readiness();
    if (!(watcher instanceof SysError)) watcher.keepFor(KEEP_THREAD_MS);
    if (this.look(conn, fd, settings)) return;
    if (this.pending.size >= MAX_WAITING) {
      return this.refuse(conn, `${MAX_WAITING} connections of this service already wait for their PROXY header`);
    }
    if (watcher instanceof SysError) return this.refuse(conn, `cannot wait for the rest of the PROXY header: ${watcher.message}`);
    this.wait(conn, fd, settings, watcher);
  }

  /** The connections waiting for their header (an upgrade passes them on, still unread: upgrade/state.ts). */
  waiting(): Connection[] {
    return [...this.pending.keys()];
  }

  /** Shutdown: every connection still waiting is closed, unserved and unlogged. */
  closeAll(): void {
    for (const w of [...this.pending.values()]) {
      this.stopWaiting(w);
      w.conn.close();
    }
  }

  /** Closed, then reported: refused. */
  private refuse(conn: Connection, message: string): void {
    conn.close();
    this.outcome.refused(conn, message);
  }

  /** Closed, then reported: its client left. */
  private leave(conn: Connection, reason: 'client_reset' | 'client_closed'): void {
    conn.close();
    this.outcome.gone(conn, reason);
  }

  private untrusted(conn: Connection, settings: ProxySettings): string | null {
    if (this.trusted?.from !== settings.from) this.trusted = { from: settings.from, rules: accessRules(settings.from, []) };
    if (this.trusted.rules?.check(conn.remoteAddress) === null) return null;
    return `${conn.remoteAddress || 'the peer'} is not in proxy_from (${settings.from.join(' ')}): only those may send a PROXY header`;
  }

  private wait(conn: Connection, fd: number, settings: ProxySettings, watcher: Readiness): void {
    const timer = setTimeout(() => {
      const w = this.pending.get(conn);
      if (w === undefined) return;
      this.stopWaiting(w);
      this.refuse(conn, `no complete PROXY header within proxy_timeout (${settings.timeout} s)`);
    }, settings.timeout * 1000);
    const w: Waiting = { conn, fd, settings, timer };
    this.pending.set(conn, w);
    watcher.watchArrivals(fd, () => {
      // Out of the set before whatever comes next closes the descriptor or hands it on.
      if (this.pending.get(conn) === w) this.look(conn, fd, settings, () => this.stopWaiting(w));
    });
  }

  private stopWaiting(w: Waiting): void {
    if (this.pending.get(w.conn) !== w) return;
    this.pending.delete(w.conn);
    clearTimeout(w.timer);
    const watcher = readiness();
    if (!(watcher instanceof SysError)) watcher.unwatch(w.fd);
  }

  /**
   * One look at what has arrived: true once the connection is decided
   * (served or refused; `settle` runs first), false while its header is
   * still incomplete.
   */
  private look(conn: Connection, fd: number, settings: ProxySettings, settle: () => void = () => undefined): boolean {
    const peeked = receive(fd, scratch, maxHeaderLength(settings.version), true);
    if (peeked instanceof SysError && peeked.code === 'EAGAIN') return false;
    if (peeked instanceof SysError && peeked.code === 'ECONNRESET') {
      settle();
      this.leave(conn, 'client_reset');
      return true;
    }
    if (peeked instanceof SysError || peeked === 0) {
      settle();
      if (peeked === 0) this.leave(conn, 'client_closed');
      else this.refuse(conn, `the connection failed (${peeked.message}) before its PROXY header was complete`);
      return true;
    }
    const header = parseHeader(scratch.subarray(0, peeked), settings.version);
    if (header.kind === 'incomplete') {
      // A peer that sent part of a header and left: the part stays readable
      // ahead of its FIN (or reset), so the look sees bytes, never the end; the state says it.
      const left = peerLeft(fd);
      if (left === null) return false;
      settle();
      this.leave(conn, left);
      return true;
    }
    settle();
    if (header.kind === 'error') {
      this.refuse(conn, header.message);
      return true;
    }
    // Exactly the header: it has all arrived (it was just seen), so this takes it whole.
    const taken = receive(fd, scratch, header.length, false);
    if (taken !== header.length) {
      const why = taken instanceof SysError ? taken.message : `${taken} of its ${header.length} bytes`;
      this.refuse(conn, `could not remove the PROXY header: ${why}`);
      return true;
    }
    this.outcome.served(proxiedConnection(conn, header.kind === 'proxied' ? header.source : null));
    return true;
  }
}

/** Has the peer closed its side, or reset? */
/** How the peer left, by the connection's state: a FIN leaves it in CLOSE_WAIT, a reset in CLOSE; null while it is there. */
function peerLeft(fd: number): 'client_closed' | 'client_reset' | null {
  const state = tcpState(fd);
  if (state === TCP_CLOSE_WAIT) return 'client_closed';
  return state === TCP_CLOSE ? 'client_reset' : null;
}
