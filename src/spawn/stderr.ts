// Reads a handler's standard error (the read end of its pipe) and reports it
// line by line. Every handler of a `stderr = log` service has one, so this is
// on the path of every connection: it uses libuv's pipe handle as Node's own
// streams do underneath, without building a net.Socket (a duplex stream, its
// state and events) for what is usually an empty pipe. Where that handle is
// not available it falls back to a net.Socket.
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { forEachLine, LineSplitter } from './lines.js';

interface PipeHandle {
  open(fd: number): number;
  readStart(): number;
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

/**
 * Calls onLine for each line the handler writes to `source` (a stream, or the
 * descriptor of a pipe's read end, closed at end of file).
 */
export function readStderrLines(source: Readable | number, onLine: (line: string) => void): void {
  if (typeof source !== 'number') return forEachLine(source, onLine);
  if (native === null) return forEachLine(new Socket({ fd: source, readable: true, writable: false }), onLine);
  const fd = source;
  const { streamBaseState: state, kReadBytesOrError, kArrayBufferOffset } = native.stream;
  const handle = new native.pipe.Pipe(native.pipe.constants.SOCKET);
  const decoder = new StringDecoder('utf8');
  const lines = new LineSplitter(onLine);
  handle.onread = (buffer) => {
    const nread = state[kReadBytesOrError] ?? 0;
    if (nread > 0 && buffer !== undefined) {
      lines.push(decoder.write(Buffer.from(buffer, state[kArrayBufferOffset] ?? 0, nread)));
      return;
    }
    if (nread < 0) {
      // End of file (every writer is gone) or a read error: either way, done.
      lines.push(decoder.end());
      lines.end();
      handle.onread = ignore;
      handle.close();
    }
  };
  if (handle.open(fd) !== 0 || handle.readStart() !== 0) {
    handle.close();
  }
}
