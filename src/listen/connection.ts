// What a listener reports, whatever its socket kind (SPEC §3): an accepted
// stream connection (nowait tcp and unix), a wait socket that has something to
// read (wait: the socket itself goes to the handler), or one datagram (udp
// builtins, answered inside superd). The runtime keeps counts, limits and logs
// for all of them alike.
import type { Duplex } from 'node:stream';
import type { DatagramContext } from '../policy/datagram.js';
import type { TlsFacts } from '../tls/facts.js';

export type Proto = 'TCP' | 'UDP' | 'UNIX';

/** An accepted stream connection. superd never reads or writes it unless a builtin serves it. */
export interface Connection {
  readonly proto: Proto;
  /** Plain IPv4 for an IPv4 client on a dual-stack socket; '' for unix, and when the client is already gone. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The local IP, or the socket file's path for unix. */
  readonly localAddress: string;
  readonly localPort: number;
  /** The client reset before superd saw it: nothing to serve. */
  readonly gone: boolean;
  /**
   * With proxy_protocol: the peer that sent the PROXY header (the balancer);
   * remoteAddress and remotePort are then the client it named (proxy/).
   */
  readonly balancer?: { readonly address: string; readonly port: number };
  /** With tls_cert: the TLS session superd terminates; the handler gets a plain stream (tls/). */
  readonly tls?: TlsFacts;
  /** The descriptor as it is (non-blocking, superd's until close()), to read a PROXY header off it first; -1 when there is none. */
  socketFd(): number;
  /** Has the client reset it since (while it was queued)? A half-closed one is not reset. */
  reset(): boolean;
  /** For a handler: the descriptor, made blocking (the handler shares its file description). Open until close(). */
  descriptor(): number;
  /** For a builtin: the connection as a stream, which then owns it (close() is a no-op afterwards). */
  stream(): Duplex;
  /** Closes superd's copy; a handler keeps its own. */
  close(): void;
}

/** A wait service's socket that has something to read: a datagram, or a connection to accept. */
export interface WaitSocket {
  readonly proto: Proto;
  /** Blocking, CLOEXEC; stays superd's until the listener closes. */
  readonly fd: number;
  /** The bound address ('' when bound to all addresses), or the socket file's path for unix. */
  readonly localAddress: string;
  readonly localPort: number;
  /** Watch it again: the next arrival (or one pending now) is reported once more. */
  rearm(): void;
  /** Has it something to read right now (a zero-timeout poll)? */
  pending(): boolean;
}

/** One udp request to a builtin. */
export interface Datagram {
  readonly data: Buffer;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** What the reflection rules (policy/datagram.ts) know of the socket it came in on, of superd and of the host. */
  readonly context: DatagramContext;
  reply(data: Buffer): void;
}

/** Where a listener reports. Each kind calls the one that fits it. */
export interface ListenerSink {
  connection(conn: Connection): void;
  /** A connection could not be accepted (libuv's negative errno: EMFILE, ENFILE…). */
  acceptFailed(status: number): void;
  readable(socket: WaitSocket): void;
  datagram(dgram: Datagram): void;
}

/**
 * What a reload needs of a socket to hand its port to a replacement on an
 * overlapping address (service/set.ts, sys/socket-handover.ts): only native
 * inet sockets have it.
 */
export interface PortHandOver {
  /** SO_REUSEPORT on this open socket, so the replacement can bind beside it: whether that worked. */
  share(): boolean;
  /** SO_REUSEPORT off again on the replacement once the old socket is closed. */
  unshare(): void;
  /**
   * Tcp nowait only, else null: new clients are turned away from now on (their
   * SYN dropped: they retry, and find the replacement); resolves once the
   * handshakes already under way have had time to end in the backlog.
   */
  turnAway(): Promise<void> | null;
  /** Right before close: accepts what waits in the backlog and reports each as a connection (tcp nowait only). */
  drain(): void;
}

export interface Listener {
  /** `127.0.0.1:7000`, `[::]:7000`, `/run/x.sock`: what it is bound to. */
  readonly address: string;
  /** A note worth logging (e.g. no IPv6 on this host), or null. */
  readonly note: string | null;
  /** Present where the port can be handed over on reload. */
  readonly handOver?: PortHandOver;
  /** Present on a socket systemd passed at start, or an upgrade (inherited.ts): its descriptor there, and its LISTEN_FDNAMES name (an upgrade's: the service's). */
  readonly inherited?: { fd: number; name: string; from: 'systemd' | 'upgrade' };
  /** A socket superd made (not systemd's): its descriptor and, for a unix socket, the identity of the file placed, for an upgrade to pass on (src/upgrade/). */
  readonly passable?: { fd: number; ownFile: { dev: number; ino: number } | null };
  /** Stops listening; resolves once the socket (and a unix socket's file) is gone. */
  close(): Promise<void> | void;
}
