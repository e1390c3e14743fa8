// Nowait tcp: a listening socket whose accepted connections go to the runtime
// one by one (accepted.ts says why they stay bare libuv handles).
import { createServer, isIPv4, type Server } from 'node:net';
import type { ServiceDefinition } from '../config/types.js';
import type { SuperdError } from '../errors.js';
import { onAccepted, tcpAddresses } from './accepted.js';
import type { Connection, Listener } from './connection.js';
import { bindFirst, type InetTarget } from './inet.js';

/** The kernel caps this at net.core.somaxconn. */
export const BACKLOG = 1024;

function listenOn(target: InetTarget, port: number): Promise<Server | NodeJS.ErrnoException> {
  const server = createServer({ pauseOnConnect: true });
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.close();
      resolve(err);
    };
    server.once('error', onError);
    server.listen({ port, host: target.host, ipv6Only: target.ipv6Only, backlog: BACKLOG }, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

const isServer = (r: Server | { message: string }): r is Server => 'listen' in r;

export async function listenTcp(
  def: ServiceDefinition,
  onConnection: (conn: Connection) => void,
  onAcceptFailed: (status: number) => void,
): Promise<Listener | SuperdError> {
  const bound = await bindFirst<Server>(def, listenOn, isServer);
  if ('code' in bound) return bound;
  const server = bound.value;
  // Bound to one IPv4 address: every connection's local end is that address
  // (written as the kernel writes it: validation takes only dotted quads).
  const known = def.bind !== null && isIPv4(def.bind) && def.bind !== '0.0.0.0' ? { address: def.bind, port: def.port ?? 0 } : null;
  onAccepted(server, 'TCP', (handle) => tcpAddresses(handle, known), null, onConnection, onAcceptFailed);
  return { address: bound.address, note: bound.note, close: () => void server.close() };
}
