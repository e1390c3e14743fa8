// Bet 4: a pipe's read end read through libuv's pipe handle, as Node's own
// streams do underneath (process.binding('pipe_wrap') and stream_wrap's
// streamBaseState, where each read leaves its byte count), without a
// net.Socket (a duplex stream, its state and events) for what is usually an
// empty pipe: every handler of a `stderr = log` service has one. check.ts
// proves at start that it reads and ends as it should; where it does not,
// the pipe is read through a net.Socket on its descriptor.
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { currentPaths, type InternalsPaths } from './paths.js';

interface PipeHandle {
  open(fd: number): number;
  readStart(): number;
  readStop(): number;
  close(): void;
  // Must always be a function: Node asserts on anything else.
  onread: (buffer: ArrayBuffer | undefined) => void;
}
/** What of the pipe_wrap and stream_wrap bindings is used. */
export interface PipeWrap {
  Pipe: new (type: number) => PipeHandle;
  /** pipe_wrap's constants.SOCKET: a plain pipe handle (neither a server nor IPC). */
  socketType: number;
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
}

let cached: PipeWrap | null | undefined;

/** The bindings, or null when this Node does not offer them as used here. */
export function pipeWrap(): PipeWrap | null {
  if (cached !== undefined) return cached;
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding;
    const pipe = binding('pipe_wrap') as { Pipe?: unknown; constants?: { SOCKET?: unknown } };
    const stream = binding('stream_wrap') as { streamBaseState?: unknown; kReadBytesOrError?: unknown; kArrayBufferOffset?: unknown };
    const { Pipe, constants } = pipe;
    const { streamBaseState: state, kReadBytesOrError, kArrayBufferOffset } = stream;
    const ok = typeof Pipe === 'function' && typeof constants?.SOCKET === 'number' && state instanceof Int32Array && typeof kReadBytesOrError === 'number' && typeof kArrayBufferOffset === 'number';
    cached = ok ? { Pipe: Pipe as PipeWrap['Pipe'], socketType: constants.SOCKET as number, state, kReadBytesOrError, kArrayBufferOffset } : null;
  } catch {
    cached = null;
  }
  return cached;
}

/** A pipe being read. Chunks come until the pipe ends (every writer gone, or a read error: onEnd, once) or until stop/close. */
export interface PipeReader {
  /** Reads no more until resume(): the pipe fills and its writer waits. */
  pause(): void;
  /** Reads again; a pipe that cannot be read any more ends (onEnd). */
  resume(): void;
  /** No more chunks and no onEnd; the descriptor stays open until close(). */
  stop(): void;
  /** Stops, and closes the descriptor. Idempotent. */
  close(): void;
}

export type OnChunk = (chunk: Buffer) => void;

const ignore = (): void => undefined;

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed.
  }
}

/** Reads `fd` (a pipe's read end, which the reader owns from now on) through libuv's pipe handle; null, fd closed, when it cannot be read. */
export function readPipeWith(wrap: PipeWrap, fd: number, onChunk: OnChunk, onEnd: () => void): PipeReader | null {
  const { state, kReadBytesOrError, kArrayBufferOffset } = wrap;
  const handle = new wrap.Pipe(wrap.socketType);
  let reading = true;
  let stopped = false;
  let closed = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    handle.onread = ignore;
    if (reading) handle.readStop();
    reading = false;
  };
  const end = (): void => {
    if (stopped) return;
    stop();
    onEnd();
  };
  handle.onread = (buffer) => {
    const nread = state[kReadBytesOrError] ?? 0;
    // Each read has an ArrayBuffer of its own: the chunk is a view of it, not a copy.
    if (nread > 0 && buffer !== undefined) return onChunk(Buffer.from(buffer, state[kArrayBufferOffset] ?? 0, nread));
    // End of file (every writer is gone) or a read error: either way, done.
    if (nread < 0) end();
  };
  if (handle.open(fd) !== 0) {
    // Not the handle's to close: the descriptor must not leak all the same.
    handle.onread = ignore;
    handle.close();
    closeQuietly(fd);
    return null;
  }
  if (handle.readStart() !== 0) {
    handle.onread = ignore;
    handle.close();
    return null;
  }
  return {
    pause: () => {
      if (stopped || !reading) return;
      reading = false;
      handle.readStop();
    },
    resume: () => {
      if (stopped || reading) return;
      reading = true;
      // A handle that cannot read any more (an error) is done, like at end of file.
      if (handle.readStart() !== 0) end();
    },
    stop,
    close: () => {
      stop();
      if (closed) return;
      closed = true;
      handle.close();
    },
  };
}

/** The public path: a net.Socket on `fd` (which it owns from now on); null, fd closed, when Node will not make one. */
export function readPipeWithSocket(fd: number, onChunk: OnChunk, onEnd: () => void): PipeReader | null {
  let socket: Socket;
  try {
    socket = new Socket({ fd, readable: true, writable: false });
  } catch {
    closeQuietly(fd);
    return null;
  }
  let stopped = false;
  const end = (): void => {
    if (stopped) return;
    stopped = true;
    onEnd();
  };
  socket.on('data', (chunk: Buffer) => {
    if (!stopped) onChunk(chunk);
  });
  socket.once('end', end);
  socket.on('error', end);
  socket.once('close', end);
  return {
    pause: () => void socket.pause(),
    resume: () => void socket.resume(),
    stop: () => {
      stopped = true;
      socket.pause();
    },
    close: () => {
      stopped = true;
      socket.destroy();
    },
  };
}

/** Reads `fd` by the path chosen at start (paths.ts). */
export function readPipe(fd: number, onChunk: OnChunk, onEnd: () => void, path: InternalsPaths['pipe'] = currentPaths().pipe): PipeReader | null {
  const wrap = path === 'pipe_wrap' ? pipeWrap() : null;
  return wrap !== null ? readPipeWith(wrap, fd, onChunk, onEnd) : readPipeWithSocket(fd, onChunk, onEnd);
}
