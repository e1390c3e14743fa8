// The control socket `superd status` talks to: each connection gets one JSON
// snapshot and is closed. Mode 0600, so only superd's own user and root can ask.
import { createConnection, createServer, type Server } from 'node:net';
import { unlink } from 'node:fs/promises';
import type { DaemonStatus } from './status.js';

/** True when another process answers on the socket (a live superd), false when it is stale or absent. */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

export async function serveControl(path: string, snapshot: () => DaemonStatus): Promise<Server | Error> {
  if (await isLive(path)) return new Error(`${path} is in use by another running superd`);
  await unlink(path).catch(() => undefined);
  const server = createServer((conn) => {
    conn.on('error', () => undefined);
    conn.end(`${JSON.stringify(snapshot())}\n`);
  });
  return new Promise((resolve) => {
    server.once('error', (err) => resolve(err));
    // The socket is created inside listen(); the umask makes it 0600 from the start.
    const old = process.umask(0o177);
    try {
      server.listen(path, () => resolve(server));
    } finally {
      process.umask(old);
    }
  });
}

export async function closeControl(server: Server, path: string): Promise<void> {
  server.close();
  await unlink(path).catch(() => undefined);
}

export function queryControl(path: string, timeoutMs = 5000): Promise<DaemonStatus | Error> {
  return new Promise((resolve) => {
    const conn = createConnection(path);
    let data = '';
    const timer = setTimeout(() => {
      conn.destroy();
      resolve(new Error(`no answer from ${path} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => (data += chunk));
    conn.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(data) as DaemonStatus);
      } catch {
        resolve(new Error(`unexpected answer from ${path}`));
      }
    });
    conn.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'no superd is running there' : err.message;
      resolve(new Error(`cannot reach superd at ${path}: ${why} (see --control-socket)`));
    });
  });
}
