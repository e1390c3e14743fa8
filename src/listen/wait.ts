// Wait services (SPEC §3): the bound udp socket or listening tcp/unix socket
// itself goes to the handler, so superd must see that it is readable without
// reading or accepting — which Node's dgram and net cannot do. These sockets
// are made natively (sys/sockets.ts) and watched by readiness.ts: an epoll set
// waited on by a thread of its own, not libuv's pool, which the spawn path
// needs (spawn/spawner.ts), and never signal-driven I/O, whose owner a
// handler sharing the socket could aim at superd.
import type { ServiceDefinition } from '../config/types.js';
import type { SuperdError } from '../errors.js';
import type { Listener, Proto, WaitSocket } from './connection.js';
import { bindFirst } from './inet.js';
import { closeWhenFree } from '../spawn/fd-holds.js';
import { SysError } from '../sys/errors.js';
import { bindInet, bindUnix, type SysSocket } from '../sys/sockets.js';
import { readiness } from './readiness.js';
import { placeServiceSocket } from './unix.js';

const isBound = (r: SysSocket | { message: string }): r is SysSocket => !(r instanceof SysError);

async function bindWaitSocket(def: ServiceDefinition): Promise<{ socket: SysSocket; address: string; note: string | null; close: () => Promise<void> } | SuperdError> {
  if (def.protocol === 'unix') {
    const placed = await placeServiceSocket<SysSocket>(def, (where) => bindUnix({ path: where }));
    if ('code' in placed) return placed;
    return { socket: placed.value, address: def.path ?? '', note: null, close: placed.close };
  }
  const type = def.protocol.startsWith('udp') ? 'dgram' : 'stream';
  const bound = await bindFirst<SysSocket>(def, async (target, port) => bindInet({ type, host: target.host, port, ipv6Only: target.ipv6Only }), isBound);
  if ('code' in bound) return bound;
  return { socket: bound.value, address: bound.address, note: bound.note, close: async () => undefined };
}

export async function listenWait(def: ServiceDefinition, onReadable: (socket: WaitSocket) => void): Promise<Listener | SuperdError> {
  const watcher = readiness();
  if (watcher instanceof SysError) return { code: 'bind_failed', message: `wait services need native sockets: ${watcher.message}` };
  const bound = await bindWaitSocket(def);
  if ('code' in bound) return bound;
  const { socket } = bound;
  const proto: Proto = def.protocol === 'unix' ? 'UNIX' : def.protocol.startsWith('udp') ? 'UDP' : 'TCP';
  const wildcard = socket.localAddress === '0.0.0.0' || socket.localAddress === '::';
  let closed = false;
  const waitSocket: WaitSocket = {
    proto,
    fd: socket.fd,
    localAddress: proto === 'UNIX' ? (def.path ?? '') : wildcard ? '' : socket.localAddress,
    localPort: socket.localPort,
    rearm: () => {
      if (!closed) watcher.watch(socket.fd, report);
    },
    pending: () => !closed && watcher.isReadable(socket.fd),
  };
  // Out of the epoll set before the handler shares the socket: its own traffic must not wake superd.
  const report = (): void => {
    watcher.unwatch(socket.fd);
    if (!closed) onReadable(waitSocket);
  };
  watcher.watch(socket.fd, report);
  return {
    address: bound.address,
    note: bound.note,
    // The file goes before the socket (see unix.ts); a running handler keeps its own copy and serves on.
    // A spawn still queued names the socket's number: it is closed once that spawn has returned.
    close: async () => {
      if (closed) return;
      closed = true;
      watcher.unwatch(socket.fd);
      await bound.close();
      await closeWhenFree(socket.fd, () => socket.close());
    },
  };
}
