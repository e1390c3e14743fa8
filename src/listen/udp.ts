// Udp for builtins: superd itself reads each datagram and answers it, so a
// Node dgram socket does. (A udp service with a program is a wait
// service: wait.ts, where the socket goes to the handler unread.)
import { createSocket, type Socket } from 'node:dgram';
import type { ServiceDefinition } from '../config/types.js';
import type { SuperdError } from '../errors.js';
import { datagramSocket, type DatagramContext } from '../policy/datagram.js';
import { plainAddress } from './address.js';
import type { Datagram, Listener } from './connection.js';
import { bindFirst, sharedPort, type Bound, type InetTarget } from './inet.js';
import type { Adopted } from './inherited.js';
import { hostFacts } from './udpfacts.js';
import { SysError } from '../sys/errors.js';
import { bindInet, closeDescriptor } from '../sys/sockets.js';

interface BoundUdp {
  socket: Socket;
  /** What the reflection rules know of this socket and the host: one object for all its datagrams. */
  context: DatagramContext;
  /** Null where Node made the socket (no native layer). */
  fd: number | null;
  target: InetTarget;
}

type Failure = { code?: string; message: string };

/**
 * Made natively (sys/sockets.ts) and given to Node, so that superd knows its
 * descriptor for a reload's hand-over (tcp.ts says more); Node makes it where
 * there is no native layer.
 */
function bindOn(target: InetTarget, port: number, reusePort: boolean): Promise<BoundUdp | Failure> {
  const made = bindInet({ type: 'dgram', host: target.host, port, ipv6Only: target.ipv6Only, reusePort });
  if (made instanceof SysError && !(made.code === 'ENOSYS' && !reusePort)) return Promise.resolve(made);
  return nodeSocket(target, port, made instanceof SysError ? null : made.fd);
}

/** A Node dgram socket on fd (which it then owns), or bound by Node itself at target and port. */
function nodeSocket(target: InetTarget, port: number, fd: number | null): Promise<BoundUdp | Failure> {
  const socket = createSocket({ type: target.host.includes(':') ? 'udp6' : 'udp4', ipv6Only: target.ipv6Only });
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      socket.close();
      resolve(err);
    };
    socket.once('error', onError);
    const bound = (): void => {
      socket.off('error', onError);
      resolve({ socket, context: { socket: datagramSocket(target.host, target.ipv6Only), host: hostFacts }, fd, target });
    };
    try {
      // Node owns a descriptor it opened (closing the socket closes it).
      if (fd !== null) socket.bind({ fd, exclusive: true }, bound);
      else socket.bind({ port, address: target.host, exclusive: true }, bound);
    } catch (err) {
      // Thrown before Node opened the descriptor: it is still superd's.
      socket.close();
      if (fd !== null) closeDescriptor(fd);
      resolve(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

const isBound = (r: BoundUdp | Failure): r is BoundUdp => 'socket' in r;

/** `reusePort`: the replacement's socket in a reload's hand-over (service/set.ts); never otherwise. */
export async function listenUdp(def: ServiceDefinition, onDatagram: (d: Datagram) => void, reusePort = false): Promise<Listener | SuperdError> {
  // The host's facts are current before the first datagram is judged.
  await hostFacts.refresh();
  const bound = await bindFirst<BoundUdp>(def, (target, p) => bindOn(target, p, reusePort), isBound);
  if ('code' in bound) return bound;
  return serveDatagrams(bound, onDatagram, true);
}

/**
 * On a socket systemd bound (inherited.ts): Node owns the listener's
 * duplicate; the socket itself stays open in the pool. No hand-over: a
 * replacement adopts the same socket. One superd made, passed on by an
 * upgrade, is the listener's own and is handed over as any superd binds.
 */
export async function adoptUdp(adopted: Adopted, onDatagram: (d: Datagram) => void): Promise<Listener | SuperdError> {
  await hostFacts.refresh();
  const { host, port, ipv6Only, address } = adopted.socket;
  const made = await nodeSocket({ host, ipv6Only }, port, adopted.fd);
  if (!isBound(made)) return { code: 'bind_failed', message: `cannot serve on the inherited socket ${address}: ${made.message}` };
  return serveDatagrams({ value: made, address, note: null }, onDatagram, adopted.socket.boundFor !== undefined);
}

/** What arrives on a bound socket goes to onDatagram; `ownSocket`: superd bound it, so a reload can hand its port over. */
function serveDatagrams(bound: Bound<BoundUdp>, onDatagram: (d: Datagram) => void, ownSocket: boolean): Listener {
  const { socket, context, fd, target } = bound.value;
  // From its bind to its close, this port is one of superd's udp builtins:
  // no builtin answers a datagram from it.
  const port = socket.address().port;
  hostFacts.builtinPorts.add(port);
  // A send that fails (ICMP unreachable reported back, EMSGSIZE) concerns one client only.
  socket.on('error', () => undefined);
  socket.on('message', (data, rinfo) => {
    hostFacts.keepCurrent();
    onDatagram({
      data,
      remoteAddress: plainAddress(rinfo.address),
      remotePort: rinfo.port,
      context,
      // To the address as it came in (a mapped IPv4 address on a dual-stack socket).
      reply: (out) => socket.send(out, rinfo.port, rinfo.address, () => undefined),
    });
  });
  let open = true;
  const close = (): void => {
    if (!open) return;
    open = false;
    hostFacts.builtinPorts.remove(port);
    socket.close();
  };
  if (fd === null || !ownSocket) return { address: bound.address, note: bound.note, close };
  // A datagram still queued on the old socket when it closes is lost, as udp may lose any.
  const handOver = sharedPort(fd, { type: 'dgram', host: target.host, port, ipv6Only: target.ipv6Only }, () => open);
  return { address: bound.address, note: bound.note, close, handOver, passable: { fd, ownFile: null } };
}
