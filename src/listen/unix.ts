// Nowait unix stream sockets. The socket file is the service's: a stale one
// (nobody answers) is replaced, anything else in the way is left alone and
// reported, the mode is set before anyone can connect (unixpath.ts), and the
// file goes when the listener closes — unless another program has put its
// own there since.
import { createServer, type Server } from 'node:net';
import type { ServiceDefinition } from '../config/types.js';
import type { SuperdError } from '../errors.js';
import { onAccepted, type Addresses } from './accepted.js';
import type { Connection, Listener } from './connection.js';
import type { Adopted } from './inherited.js';
import { BACKLOG, serve } from './tcp.js';
import { serverFd } from '../internals/descriptor.js';
import { clearStaleSocket, placeUnixSocket, removeOwnSocket } from './unixpath.js';

function listenAt(path: string): Promise<Server | SuperdError> {
  const server = createServer({ pauseOnConnect: true });
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.close();
      resolve({ code: err.code ?? 'EINVAL', message: err.message });
    };
    server.once('error', onError);
    server.listen({ path, backlog: BACKLOG }, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

/** Places the service's socket file with `bindAt`, or says why not (as a bind_failed). */
export async function placeServiceSocket<T>(
  def: ServiceDefinition,
  bindAt: (where: string) => Promise<T | SuperdError> | T | SuperdError,
): Promise<{ value: T; close: () => Promise<void>; identity: { dev: number; ino: number } } | SuperdError> {
  const path = def.path ?? '';
  const inTheWay = await clearStaleSocket(path);
  if (inTheWay !== null) return { code: 'bind_failed', message: inTheWay.message };
  const placed = await placeUnixSocket(path, def.socketMode, bindAt);
  if ('code' in placed) return { code: 'bind_failed', message: `cannot bind ${path}: ${placed.message}` };
  return { value: placed.value, close: () => removeOwnSocket(path, placed.identity), identity: placed.identity };
}

export async function listenUnix(
  def: ServiceDefinition,
  onConnection: (conn: Connection) => void,
  onAcceptFailed: (status: number) => void,
): Promise<Listener | SuperdError> {
  const path = def.path ?? '';
  const placed = await placeServiceSocket(def, listenAt);
  if ('code' in placed) return placed;
  const server = placed.value;
  const addresses = (): Addresses => ({ remoteAddress: '', remotePort: 0, localAddress: path, localPort: 0, gone: false });
  let closing = false;
  onAccepted(server, 'UNIX', addresses, path, (conn) => (closing ? conn.close() : onConnection(conn)), onAcceptFailed);
  const fd = serverFd(server);
  return {
    address: path,
    note: null,
    ...(fd === null ? {} : { passable: { fd, ownFile: placed.identity } }),
    // The file goes first: while our socket is open its inode cannot be
    // reused, so the check that the file is still ours cannot be fooled.
    close: async () => {
      closing = true;
      await placed.close();
      server.close();
    },
  };
}

/** On a socket systemd bound (inherited.ts): its file is systemd's, never removed or chmodded here; on one an upgrade passed, superd's. */
export async function adoptUnix(adopted: Adopted, onConnection: (conn: Connection) => void, onAcceptFailed: (status: number) => void): Promise<Listener | SuperdError> {
  const path = adopted.socket.host;
  const server = await serve({ fd: adopted.fd });
  if (!('listen' in server)) return { code: 'bind_failed', message: `cannot listen on the inherited socket ${path}: ${server.message}` };
  const addresses = (): Addresses => ({ remoteAddress: '', remotePort: 0, localAddress: path, localPort: 0, gone: false });
  onAccepted(server, 'UNIX', addresses, path, onConnection, onAcceptFailed);
  // One an upgrade passed (inherited.ts) is superd's: its file goes with it, first.
  const ownFile = adopted.socket.ownFile ?? null;
  if (ownFile === null) return { address: path, note: null, close: () => void server.close() };
  return { address: path, note: null, close: async () => { await removeOwnSocket(path, ownFile); server.close(); } };
}
