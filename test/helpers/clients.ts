// TCP clients for the tests: free ports to serve on (for tcp, or tcp and udp),
// one-shot exchanges, connections held open or driven step by step. Every wait
// here is bounded.
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createConnection, createServer, isIPv6, type Server, type Socket } from 'node:net';
import { within } from './wait.js';

/** A port that was free a moment ago (bind 0, read, close). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** The kernel's ephemeral port range (client sockets take their local port from it). */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo !== undefined && hi !== undefined && Number.isInteger(lo) && Number.isInteger(hi)) return [lo, hi];
  } catch {
    // Not Linux, or no /proc: assume the default.
  }
  return [32768, 60999];
}

function tryListen(port: number, host: string): Promise<Server | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(null));
    srv.listen(port, host, () => resolve(srv));
  });
}

function tryBindUdp(port: number, host: string): Promise<DgramSocket | null> {
  return new Promise((resolve) => {
    const sock = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    sock.once('error', () => {
      try {
        sock.close();
      } catch {
        // Already closed by the failed bind.
      }
      resolve(null);
    });
    sock.bind(port, host, () => resolve(sock));
  });
}

let wildcard: Promise<string> | undefined;

/**
 * '::' (dual-stack: every IPv4 and IPv6 address) where the host can bind it,
 * else '0.0.0.0': what superd binds for a service without `bind`.
 */
export function wildcardHost(): Promise<string> {
  wildcard ??= tryListen(0, '::').then(
    (srv) =>
      new Promise<string>((resolve) => {
        if (srv === null) resolve('0.0.0.0');
        else srv.close(() => resolve('::'));
      }),
  );
  return wildcard;
}

export interface FreePortOptions {
  /**
   * Also hold a udp socket on each candidate, so the port is free for tcp AND
   * udp (a udp service, or a builtin served over both).
   */
  udp?: boolean;
  /**
   * More addresses the port must be free on, held at the same time as `host`
   * (e.g. '::1' beside '127.0.0.1'). Not needed with the wildcard '::': a
   * wildcard bind already fails when any single address holds the port.
   */
  also?: string[];
}

/** Closes whatever freePorts held for one candidate port. */
type Held = () => Promise<void>;

const closeServer = (s: Server): Held => () => new Promise<void>((resolve) => s.close(() => resolve()));
const closeUdp = (u: DgramSocket): Held => () => new Promise<void>((resolve) => u.close(() => resolve()));

/** Binds `port` (0: any) for tcp (and udp) on every host, or nothing: the port taken, or null. */
async function holdCandidate(port: number, hosts: string[], udp: boolean, held: Held[]): Promise<number | null> {
  const mine: Held[] = [];
  let actual = port;
  let ok = true;
  for (const h of hosts) {
    const srv = await tryListen(actual, h);
    if (srv === null) {
      ok = false;
      break;
    }
    mine.push(closeServer(srv));
    const addr = srv.address();
    // With port 0 the first bind picks the port; the other hosts must take the same one.
    if (actual === 0) actual = typeof addr === 'object' && addr !== null ? addr.port : 0;
  }
  if (ok && udp) {
    for (const h of hosts) {
      const sock = await tryBindUdp(actual, h);
      if (sock === null) {
        ok = false;
        break;
      }
      mine.push(closeUdp(sock));
    }
  }
  if (!ok) {
    await Promise.all(mine.map((c) => c()));
    return null;
  }
  held.push(...mine);
  return actual;
}

/**
 * `count` distinct ports that were free a moment ago (all held open until
 * every one is known). They are picked at random below the kernel's ephemeral
 * range: the thousands of client connections of tests running in parallel
 * take their local ports from that range, and one of them could otherwise
 * take a port between this call and superd's bind.
 *
 * `host` '::' means the wildcard (falls back to '0.0.0.0' without IPv6): use it
 * for services without `bind`, which superd binds on every address. With
 * `opts.udp` each port is free for udp as well as tcp.
 */
export async function freePorts(count: number, host = '127.0.0.1', opts: FreePortOptions = {}): Promise<number[]> {
  const first = host === '::' ? await wildcardHost() : host;
  // A wildcard bind already covers (and would clash with) any single address.
  const wildcardFirst = first === '::' || first === '0.0.0.0';
  const hosts = [first, ...(wildcardFirst ? [] : (opts.also ?? []).filter((h) => h !== first))];
  const [ephemeralLow] = ephemeralRange();
  const low = 10000;
  const high = ephemeralLow - 1;
  const held: Held[] = [];
  const ports: number[] = [];
  try {
    for (let tries = 0; ports.length < count && tries < count * 50; tries++) {
      const port = high > low + 1000 ? low + Math.floor(Math.random() * (high - low)) : 0;
      if (port !== 0 && ports.includes(port)) continue;
      const got = await holdCandidate(port, hosts, opts.udp === true, held);
      if (got === null || got === 0 || ports.includes(got)) continue;
      ports.push(got);
    }
  } finally {
    await Promise.all(held.map((c) => c()));
  }
  if (ports.length < count) throw new Error(`could not find ${count} free ${opts.udp === true ? 'tcp+udp' : 'tcp'} ports on ${hosts.join(', ')}`);
  return ports;
}

export interface Exchange {
  data: Buffer;
  /** 'end' when the server closed cleanly, or the error code. */
  how: string;
}

/** Connects, sends `payload`, half-closes, and reads until the server closes. */
export function exchange(port: number, payload: Buffer | string, opts: { host?: string; timeoutMs?: number; halfClose?: boolean; localAddress?: string } = {}): Promise<Exchange> {
  return exchangeOver(() => createConnection({ port, host: opts.host ?? '127.0.0.1', localAddress: opts.localAddress }), `port ${port}`, payload, opts.timeoutMs ?? 10000, opts.halfClose);
}

/**
 * The exchange over any stream socket `connect` opens (tcp, unix): resolves
 * with what arrived and how it ended ('end' or the error code); rejects if the
 * server has not closed within timeoutMs.
 */
export function exchangeOver(connect: () => Socket, what: string, payload: Buffer | string, timeoutMs: number, halfClose = true): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect();
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no EOF from ${what} within ${timeoutMs} ms (got ${Buffer.concat(chunks).length} bytes)`));
    }, timeoutMs);
    sock.on('connect', () => {
      if (halfClose) sock.end(payload);
      else sock.write(payload);
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('end', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(chunks), how: 'end' });
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), how: err.code ?? err.message });
    });
  });
}

/** 'connected' when a TCP connection could be opened (it is closed again at once), else the error code. */
export function tryConnect(port: number, host = '127.0.0.1', timeoutMs = 3000): Promise<string> {
  return tryConnectWith(() => createConnection({ port, host }), timeoutMs);
}

/** The same probe over any stream socket `connect` opens (tcp, unix). */
export function tryConnectWith(connect: () => Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect();
    const timer = setTimeout(() => {
      sock.destroy();
      resolve('ETIMEDOUT');
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve('connected');
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
  });
}

/** How long HeldConnection.closed waits for the server to close. */
export const CLOSED_WITHIN_MS = 10000;

/** A client connection kept open across whatever the test does to superd. */
export interface HeldConnection {
  socket: Socket;
  /** Everything received so far. */
  received(): Buffer;
  /** Resolves once the bytes received contain `text` (bounded). */
  waitForData(text: string, timeoutMs?: number): Promise<void>;
  send(data: string | Buffer): void;
  /** 'end' once the server closed its side, or the error code; rejects if that takes over CLOSED_WITHIN_MS from when it is asked. */
  readonly closed: Promise<string>;
  destroy(): void;
}

/** Opens a connection and resolves once it is connected; rejects on error or timeout. */
export function holdConnection(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<HeldConnection> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const listeners = new Set<() => void>();
    const sock = createConnection({ port, host });
    let closedResolve: (how: string) => void = () => undefined;
    const closedHow = new Promise<string>((r) => (closedResolve = r));
    let isClosed = false;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`could not connect to ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      for (const l of listeners) l();
    });
    sock.on('end', () => {
      isClosed = true;
      closedResolve('end');
      for (const l of listeners) l();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      isClosed = true;
      closedResolve(err.code ?? err.message);
      for (const l of listeners) l();
      reject(err);
    });
    sock.on('close', () => {
      isClosed = true;
      closedResolve('closed');
      for (const l of listeners) l();
    });
    const received = (): Buffer => Buffer.concat(chunks);
    sock.once('connect', () => {
      clearTimeout(timer);
      resolve({
        socket: sock,
        received,
        get closed() {
          return within(closedHow, CLOSED_WITHIN_MS, `${host}:${port}: the server did not close the connection`);
        },
        send: (data) => void sock.write(data),
        destroy: () => sock.destroy(),
        waitForData: (text, waitMs = 5000) =>
          new Promise<void>((res, rej) => {
            const check = (): boolean => {
              if (received().includes(text)) {
                done();
                res();
                return true;
              }
              if (isClosed) {
                done();
                rej(new Error(`connection closed before ${JSON.stringify(text)} arrived; got ${JSON.stringify(received().toString())}`));
                return true;
              }
              return false;
            };
            const t = setTimeout(() => {
              done();
              rej(new Error(`no ${JSON.stringify(text)} within ${waitMs} ms; got ${JSON.stringify(received().toString())}`));
            }, waitMs);
            const done = (): void => {
              clearTimeout(t);
              listeners.delete(onData);
            };
            const onData = (): void => void check();
            if (!check()) listeners.add(onData);
          }),
      });
    });
  });
}

export interface Client {
  /** The client side's own port: what superd logs as remote_port. */
  localPort: number;
  /** Everything received so far. */
  received(): Buffer;
  write(data: Buffer | string): void;
  /** Half-close (FIN), optionally after a last write. */
  end(data?: Buffer | string): void;
  destroy(): void;
  /** Aborts the connection: the server sees a reset (RST), not a close. */
  reset(): void;
  /** Resolves once at least `bytes` bytes arrived (or rejects on timeout / close before). */
  waitForBytes(bytes: number, timeoutMs?: number): Promise<Buffer>;
  /** Resolves with 'end' (server FIN) or the error code once the server closed; rejects on timeout. */
  waitClosed(timeoutMs?: number): Promise<string>;
  /** How the connection ended so far, or null while it is open. */
  closedHow(): string | null;
}

/** Connects (bounded) and collects what the server sends; the caller decides when to write and end. */
export function connectClient(port: number, opts: { host?: string; timeoutMs?: number; localAddress?: string } = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let how: string | null = null;
    const notify = new Set<() => void>();
    const sock = createConnection({ port, host: opts.host ?? '127.0.0.1', localAddress: opts.localAddress });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`could not connect to port ${port} within ${opts.timeoutMs ?? 5000} ms`));
    }, opts.timeoutMs ?? 5000);
    const settle = (h: string): void => {
      if (how === null) how = h;
      for (const n of notify) n();
    };
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      for (const n of notify) n();
    });
    sock.on('end', () => {
      settle('end');
      sock.destroy();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (how === null && sock.localPort === undefined) {
        reject(err);
        return;
      }
      settle(err.code ?? err.message);
    });
    sock.on('close', () => settle('close'));
    const waitUntil = <T>(cond: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> =>
      new Promise<T>((res, rej) => {
        const check = (): boolean => {
          let v: T | undefined;
          try {
            v = cond();
          } catch (e) {
            done();
            rej(e instanceof Error ? e : new Error(String(e)));
            return true;
          }
          if (v !== undefined) {
            done();
            res(v);
            return true;
          }
          return false;
        };
        const t = setTimeout(() => {
          done();
          rej(new Error(`timed out after ${timeoutMs} ms: ${what()}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(t);
          notify.delete(onEvent);
        };
        const onEvent = (): void => void check();
        if (!check()) notify.add(onEvent);
      });
    sock.on('connect', () => {
      clearTimeout(timer);
      const client: Client = {
        localPort: sock.localPort ?? 0,
        received: () => Buffer.concat(chunks),
        write: (d) => void sock.write(d),
        end: (d) => void (d === undefined ? sock.end() : sock.end(d)),
        destroy: () => sock.destroy(),
        reset: () => void sock.resetAndDestroy(),
        waitForBytes: (bytes, timeoutMs = 5000) =>
          waitUntil(
            () => {
              if (size >= bytes) return Buffer.concat(chunks);
              if (how !== null) throw new Error(`connection closed (${how}) after ${size} of ${bytes} bytes: ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 200))}`);
              return undefined;
            },
            timeoutMs,
            () => `waiting for ${bytes} bytes on port ${port}, got ${size}: ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 200))}`,
          ),
        waitClosed: (timeoutMs = 5000) =>
          waitUntil(() => how ?? undefined, timeoutMs, () => `waiting for the server to close the connection on port ${port} (got ${size} bytes)`),
        closedHow: () => how,
      };
      resolve(client);
    });
  });
}

/** Whether this host can listen and connect on ::1. */
export function hasIPv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(0, '::1', () => srv.close(() => resolve(true)));
  });
}

