// Udp for builtins: superd itself reads each datagram and answers it, so a
// plain Node dgram socket does. (A udp service with a program is a wait
// service: wait.ts, where the socket goes to the handler unread.)
import { createSocket, type Socket } from 'node:dgram';
import type { ServiceDefinition } from '../config/types.js';
import type { SuperdError } from '../errors.js';
import { datagramSocket, type DatagramContext } from '../policy/datagram.js';
import { plainAddress } from './address.js';
import type { Datagram, Listener } from './connection.js';
import { bindFirst, type InetTarget } from './inet.js';
import { hostFacts } from './udpfacts.js';

interface BoundUdp {
  socket: Socket;
  /** What the reflection rules know of this socket and the host: one object for all its datagrams. */
  context: DatagramContext;
}

function bindOn(target: InetTarget, port: number): Promise<BoundUdp | NodeJS.ErrnoException> {
  const socket = createSocket({ type: target.host.includes(':') ? 'udp6' : 'udp4', ipv6Only: target.ipv6Only });
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      socket.close();
      resolve(err);
    };
    socket.once('error', onError);
    socket.bind({ port, address: target.host, exclusive: true }, () => {
      socket.off('error', onError);
      resolve({ socket, context: { socket: datagramSocket(target.host, target.ipv6Only), host: hostFacts } });
    });
  });
}

const isBound = (r: BoundUdp | { message: string }): r is BoundUdp => 'socket' in r;

export async function listenUdp(def: ServiceDefinition, onDatagram: (d: Datagram) => void): Promise<Listener | SuperdError> {
  // The host's facts are current before the first datagram is judged.
  await hostFacts.refresh();
  const bound = await bindFirst<BoundUdp>(def, bindOn, isBound);
  if ('code' in bound) return bound;
  const { socket, context } = bound.value;
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
  return { address: bound.address, note: bound.note, close };
}
