// Bet 1: the connections a net.Server accepts, taken as libuv's bare stream
// handles. superd replaces the listening handle's `onconnection` (what Node
// calls for each accept before it builds a net.Socket) and keeps the accepted
// tcp_wrap or pipe_wrap handle as it is: for a connection a program serves,
// a net.Socket (a stream, its buffers and events) would be built for nothing.
// None of this is public API: check.ts proves at start that it behaves, and
// superd uses the server's 'connection' event where it does not.
import type { Server } from 'node:net';

declare const accepted: unique symbol;
/** An accepted connection's libuv handle. Opaque: only this folder reaches into it. */
export interface AcceptedHandle {
  readonly [accepted]: true;
}

/** The parts of libuv's stream handles (Node's tcp_wrap, pipe_wrap) used here. */
interface RawStreamHandle {
  readonly fd: number;
  getpeername?(out: { address?: string; port?: number }): number;
  getsockname?(out: { address?: string; port?: number }): number;
  setBlocking(blocking: boolean): number;
  close(onClosed?: () => void): void;
}
interface ServerHandle {
  onconnection?: (status: number, client: RawStreamHandle | undefined) => void;
}

const raw = (h: AcceptedHandle): RawStreamHandle => h as unknown as RawStreamHandle;

/**
 * Has `server` (listening) report each accepted connection's handle, and
 * each accept that failed (a status < 0: EMFILE, ENFILE; libuv keeps
 * accepting either way). False, with nothing changed, when the server has no
 * such hook: the caller listens to 'connection' instead.
 */
export function hookAccept(server: Server, onHandle: (handle: AcceptedHandle) => void, onFailed: (status: number) => void): boolean {
  const handle = (server as unknown as { _handle?: ServerHandle | null })._handle;
  if (typeof handle?.onconnection !== 'function') return false;
  handle.onconnection = (status, client) => {
    if (status === 0 && client !== undefined) onHandle(client as unknown as AcceptedHandle);
    else onFailed(status);
  };
  return true;
}

/** The handle's descriptor, as it is (non-blocking, as libuv keeps it). */
export function handleFd(h: AcceptedHandle): number {
  return raw(h).fd;
}

/** Sets O_NONBLOCK off (blocking) or on: 0, or a negative errno. */
export function setHandleBlocking(h: AcceptedHandle, blocking: boolean): number {
  return raw(h).setBlocking(blocking);
}

export interface SocketName {
  address?: string;
  port?: number;
}

/** getpeername(2) of the handle into `out`: whether there was a peer (a tcp client that reset has none; unix handles have no such call). */
export function peerName(h: AcceptedHandle, out: SocketName): boolean {
  return raw(h).getpeername?.(out) === 0;
}

/** getsockname(2) of the handle into `out` (unix handles have no such call). */
export function sockName(h: AcceptedHandle, out: SocketName): boolean {
  return raw(h).getsockname?.(out) === 0;
}

/** Closes the handle, and with it superd's descriptor of the connection; `onClosed` once libuv is done with it. */
export function closeHandle(h: AcceptedHandle, onClosed?: () => void): void {
  if (onClosed === undefined) raw(h).close();
  else raw(h).close(onClosed);
}
