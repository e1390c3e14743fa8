// A pipe's read end read through libuv's own pipe handle, as Node's streams
// do underneath, without building a net.Socket (a duplex stream, its state and
// events) for what is usually an empty pipe. Every handler of a `stderr = log`
// service has such a pipe, so this is on the path of every connection.
//
// It is a bet on Node's internals (process.binding('pipe_wrap') and
// ('stream_wrap'), and the streamBaseState through which a read reports its
// length), and this is the one file that makes it: nothing else in superd
// touches process.binding. Where the bindings are not there as expected,
// readPipe says so (null) and the caller reads through a net.Socket.
import { closeSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

interface PipeHandle {
  open(fd: number): number;
  readStart(): number;
  readStop(): number;
  close(): void;
  // Must always be a function: Node asserts on anything else.
  onread: (buffer: ArrayBuffer | undefined) => void;
}
interface PipeBinding {
  Pipe: new (type: number) => PipeHandle;
  constants: { SOCKET: number };
}
interface StreamBinding {
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
}

function bindings(): { pipe: PipeBinding; stream: StreamBinding } | null {
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding;
    const pipe = binding('pipe_wrap') as PipeBinding;
    const stream = binding('stream_wrap') as StreamBinding;
    if (typeof pipe.Pipe !== 'function' || !(stream.streamBaseState instanceof Int32Array)) return null;
    return { pipe, stream };
  } catch {
    return null;
  }
}

const native = bindings();
const ignore = (): void => undefined;

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed.
  }
}

/** A pipe being read through its libuv handle. */
export interface PipeReading {
  /** No more reads until resume(). */
  pause(): void;
  /** Reads again; a handle that cannot read any more (an error) ends, as at end of file. */
  resume(): void;
  /** Ends the reading now, as at end of file: what the decoder still holds comes out through onChunk, then onEnd. */
  stop(): void;
  /** Closes the handle and with it the descriptor: once what was read has been handed on. */
  close(): void;
}

/**
 * Reads the pipe's read end `fd` as UTF-8 text: each read through onChunk,
 * then onEnd once, at end of file (every writer gone), on a read error, or
 * after stop(). A descriptor the handle cannot take is closed and ends at
 * once: onEnd may then run before readPipe returns. Null where Node's
 * bindings are not as expected: `fd` is untouched, for a net.Socket to read.
 */
export function readPipe(fd: number, onChunk: (text: string) => void, onEnd: () => void): PipeReading | null {
  if (native === null) return null;
  const { streamBaseState: state, kReadBytesOrError, kArrayBufferOffset } = native.stream;
  const handle = new native.pipe.Pipe(native.pipe.constants.SOCKET);
  const decoder = new StringDecoder('utf8');
  let reading = true;
  let ended = false;
  let closed = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    handle.onread = ignore;
    if (reading) handle.readStop();
    onChunk(decoder.end());
    onEnd();
  };
  const close = (): void => {
    if (closed) return;
    closed = true;
    handle.close();
  };
  handle.onread = (buffer) => {
    const nread = state[kReadBytesOrError] ?? 0;
    if (nread > 0 && buffer !== undefined) {
      onChunk(decoder.write(Buffer.from(buffer, state[kArrayBufferOffset] ?? 0, nread)));
      return;
    }
    // End of file (every writer is gone) or a read error: either way, done.
    if (nread < 0) end();
  };
  const controls: PipeReading = {
    pause: () => {
      reading = false;
      handle.readStop();
    },
    resume: () => {
      reading = true;
      if (handle.readStart() !== 0) end();
    },
    stop: end,
    close,
  };
  const opened = handle.open(fd) === 0;
  if (!opened || handle.readStart() !== 0) {
    handle.onread = ignore;
    close();
    // Not the handle's to close when it could not take it: the descriptor must not leak all the same.
    if (!opened) closeQuietly(fd);
    ended = true;
    onEnd();
  }
  return controls;
}
