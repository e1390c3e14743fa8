// Udp for builtins: superd itself reads each datagram and answers it, so a
// plain Node dgram socket does. (A udp service with a program is a wait
// service: wait.ts, where the socket goes to the handler unread.)
import { createSocket, type Socket } from 'node:dgram';
import type { ServiceDefinition } from '../config/types.js';
import type { SuperdError } from '../errors.js';
import { plainAddress } from './address.js';
import type { Datagram, Listener } from './connection.js';
import { bindFirst, type InetTarget } from './inet.js';

function bindOn(target: InetTarget, port: number): Promise<Socket | NodeJS.ErrnoException> {
  const socket = createSocket({ type: target.host.includes(':') ? 'udp6' : 'udp4', ipv6Only: target.ipv6Only });
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      socket.close();
      resolve(err);
    };
    socket.once('error', onError);
    socket.bind({ port, address: target.host, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

const isSocket = (r: Socket | { message: string }): r is Socket => 'send' in r;

export async function listenUdp(def: ServiceDefinition, onDatagram: (d: Datagram) => void): Promise<Listener | SuperdError> {
  const bound = await bindFirst<Socket>(def, bindOn, isSocket);
  if ('code' in bound) return bound;
  const socket = bound.value;
  // A send that fails (ICMP unreachable reported back, EMSGSIZE) concerns one client only.
  socket.on('error', () => undefined);
  socket.on('message', (data, rinfo) => {
    onDatagram({
      data,
      remoteAddress: plainAddress(rinfo.address),
      remotePort: rinfo.port,
      // To the address as it came in (a mapped IPv4 address on a dual-stack socket).
      reply: (out) => socket.send(out, rinfo.port, rinfo.address, () => undefined),
    });
  });
  return { address: bound.address, note: bound.note, close: () => void socket.close() };
}
