// Whether a superd of ours already answers at a control socket path (SPEC §5:
// one superd per control socket), and whether a peer there may be believed.
// The daemon asks before it places its own socket (server.ts).
import { lstat } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { socketFd } from '../internals/descriptor.js';
import { loadSys } from '../sys/load.js';
import { currentUid } from './path.js';
import { isDaemonStatus } from './status.js';

/** How long a superd found at our control socket gets to answer `status` (`superd status` waits as long). */
const RUNNING_STATUS_TIMEOUT_MS = 5000;
/** Far more than any status: a peer that sends more is not superd. */
const MAX_STATUS_ANSWER = 64 * 1024 * 1024;

/** Whether the peer is our own user or root (the peer may be answered, or believed). Null when it cannot be told. */
export function trustedPeer(conn: Socket): boolean | null {
  const libc = loadSys();
  const fd = socketFd(conn);
  if (libc instanceof Error || fd === null) return null;
  const peer = libc.peerCredentials(fd);
  return peer === null ? null : peer.uid === currentUid() || peer.uid === 0;
}

/**
 * The pid of a superd answering at path, or null: nobody, another program,
 * a process of another user (a socket in a shared directory must not keep
 * superd from starting), or no status answer within timeoutMs. Believed are
 * a peer of our own user or root (SO_PEERCRED, which no file swap can forge;
 * where it cannot be read, the socket file's owner) that answers `status` as
 * superd does.
 */
export function superdAnswering(path: string, timeoutMs = RUNNING_STATUS_TIMEOUT_MS): Promise<{ pid: number } | null> {
  return new Promise((resolve) => {
    const conn = createConnection(path);
    let text = '';
    let settled = false;
    const done = (found: { pid: number } | null): void => {
      settled = true;
      clearTimeout(timer);
      conn.destroy();
      resolve(found);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    conn.on('error', () => done(null));
    conn.once('connect', () => {
      void believable(conn, path).then((trusted) => {
        if (settled) return;
        if (trusted) conn.end('status\n');
        else done(null);
      });
    });
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > MAX_STATUS_ANSWER) done(null);
    });
    conn.on('end', () => {
      try {
        const answer = JSON.parse(text.split('\n', 1)[0] ?? '') as unknown;
        done(isDaemonStatus(answer) ? { pid: answer.pid } : null);
      } catch {
        done(null);
      }
    });
  });
}

async function believable(conn: Socket, path: string): Promise<boolean> {
  const peer = trustedPeer(conn);
  if (peer !== null) return peer;
  try {
    const owner = (await lstat(path)).uid;
    return owner === currentUid() || owner === 0;
  } catch {
    return false;
  }
}
