// UDP clients for the tests: one datagram and its reply, or a socket kept for
// several. Datagrams can be lost or never answered, so every wait here ends in
// null after a timeout rather than hanging; a test of "no reply" passes a short one.
import { createSocket, type Socket, type SocketType } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

export interface UdpOptions {
  host?: string;
  timeoutMs?: number;
  /** Send from this local port (below 1024 needs root: such a test must skip otherwise). */
  localPort?: number;
  /** Send from this local address (e.g. 127.0.0.2, another loopback source); by default the destination itself. */
  localAddress?: string;
}

export interface Datagram {
  data: Buffer;
  address: string;
  port: number;
}

function socketType(host: string): SocketType {
  return isIPv6(host) ? 'udp6' : 'udp4';
}

/**
 * The local address to bind: the destination itself when it is a loopback
 * address (nothing listens beyond loopback, and the reply's source then
 * matches), else the family's wildcard (e.g. '::ffff:127.0.0.1' needs a
 * dual-stack socket).
 */
function localAddress(host: string): string | undefined {
  if (isIPv4(host) && host.startsWith('127.')) return host;
  if (host === '::1') return host;
  return undefined;
}

function bind(sock: Socket, host: string, localPort: number | undefined, from?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    sock.once('error', onError);
    sock.bind({ port: localPort ?? 0, address: from ?? localAddress(host), exclusive: true }, () => {
      sock.off('error', onError);
      resolve(sock.address().port);
    });
  });
}

function closeQuietly(sock: Socket): void {
  try {
    sock.close();
  } catch {
    // Already closed.
  }
}

/**
 * Sends `payload` as one datagram to host:port from a fresh socket and resolves
 * with the first datagram that comes back (from any source: a server may
 * answer from another port), or null if none arrived within timeoutMs. Rejects
 * only if the socket cannot be bound or the send fails. The socket is always closed.
 */
export async function udpExchange(port: number, payload: Buffer | string, opts: UdpOptions = {}): Promise<Buffer | null> {
  const host = opts.host ?? '127.0.0.1';
  const timeoutMs = opts.timeoutMs ?? 3000;
  const sock = createSocket(socketType(host));
  try {
    await bind(sock, host, opts.localPort, opts.localAddress);
    return await new Promise<Buffer | null>((resolve, reject) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      sock.once('message', (msg: Buffer) => {
        clearTimeout(timer);
        resolve(msg);
      });
      // An ICMP port unreachable is not reported on an unconnected socket, so
      // "nobody listens" shows as null, like "nobody answered".
      sock.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      sock.send(payload, port, host, (err) => {
        if (err !== null) {
          clearTimeout(timer);
          reject(err);
        }
      });
    });
  } finally {
    closeQuietly(sock);
  }
}

export interface UdpClient {
  /** The bound local port (what superd sees as the remote port). */
  ready: Promise<number>;
  send(port: number, payload: Buffer | string): Promise<void>;
  /** The next datagram received (queued or yet to come), or null after timeoutMs. */
  next(timeoutMs?: number): Promise<Datagram | null>;
  close(): void;
}

/** One socket for a multi-datagram test: datagrams received are queued until next() takes them. */
export function udpClient(host = '127.0.0.1', opts: { localPort?: number } = {}): UdpClient {
  const sock = createSocket(socketType(host));
  const queue: Datagram[] = [];
  const waiting = new Set<(d: Datagram | null) => void>();
  let closed = false;
  // Errors after the bind (rare on an unconnected socket) must not crash the
  // test process; the bind's own error reaches `ready`.
  sock.on('error', () => undefined);
  sock.on('message', (msg: Buffer, rinfo) => {
    const d: Datagram = { data: msg, address: rinfo.address, port: rinfo.port };
    const [first] = waiting;
    if (first !== undefined) {
      waiting.delete(first);
      first(d);
    } else {
      queue.push(d);
    }
  });
  const ready = bind(sock, host, opts.localPort);
  // A failed bind surfaces through ready and send(); keep it from being an unhandled rejection.
  ready.catch(() => undefined);
  return {
    ready,
    async send(port, payload) {
      await ready;
      await new Promise<void>((resolve, reject) => {
        sock.send(payload, port, host, (err) => (err === null ? resolve() : reject(err)));
      });
    },
    next(timeoutMs = 3000) {
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      if (closed) return Promise.resolve(null);
      return new Promise<Datagram | null>((resolve) => {
        const take = (d: Datagram | null): void => {
          clearTimeout(timer);
          resolve(d);
        };
        const timer = setTimeout(() => {
          waiting.delete(take);
          resolve(null);
        }, timeoutMs);
        waiting.add(take);
      });
    },
    close() {
      if (closed) return;
      closed = true;
      closeQuietly(sock);
      for (const w of waiting) w(null);
      waiting.clear();
    },
  };
}
