// Reads a handler's standard error (the read end of its pipe) and reports it
// line by line. Every handler of a `stderr = log` service has one, so this is
// on the path of every connection: it uses libuv's pipe handle as Node's own
// streams do underneath, without building a net.Socket (a duplex stream, its
// state and events) for what is usually an empty pipe. Where that handle is
// not available it falls back to a net.Socket.
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '../log.js';
import type { LogFlow } from '../logsink.js';
import { loadSys } from '../sys/load.js';
import { forEachLine, LinePump, type OnLine } from './lines.js';
import { lazyStderr } from './pipe.js';
import { pipeParking } from './park.js';

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

/** A handler's stderr being read: done at its end of file, or stopped early (closing superd's end). */
export interface StderrReader {
  readonly done: boolean;
  stop(): void;
  /** Called once when it is done (end of file, an error, or stop()). */
  ondone: (() => void) | null;
  /** Its handler has been reaped: a pipe no one else holds and nothing was written to can be closed now. */
  handlerExited(): void;
}

const ignoreExit = (): void => undefined;
const NOTHING: StderrReader = { done: true, stop: () => undefined, ondone: null, handlerExited: ignoreExit };

/**
 * Calls onLine for each line the handler writes to `source` (a stream, or the
 * descriptor of a pipe's read end, closed at end of file); a run of empty
 * lines is one call (lines.ts). With a flow, the pipe is not read while the
 * log is behind. Returns how to stop early: a process the handler left
 * behind may hold the pipe open for ever.
 */
export function readStderrLines(source: Readable | number, onLine: OnLine, flow: LogFlow | null = null): StderrReader {
  const stream = typeof source !== 'number' ? source : native === null ? new Socket({ fd: source, readable: true, writable: false }) : null;
  if (stream !== null) {
    forEachLine(stream, onLine, flow);
    const reader: StderrReader = { get done() { return stream.destroyed || stream.readableEnded; }, stop: () => stream.destroy(), ondone: null, handlerExited: ignoreExit };
    stream.once('close', () => reader.ondone?.());
    return reader;
  }
  if (native === null || typeof source !== 'number') return NOTHING;
  const { streamBaseState: state, kReadBytesOrError, kArrayBufferOffset } = native.stream;
  const handle = new native.pipe.Pipe(native.pipe.constants.SOCKET);
  const decoder = new StringDecoder('utf8');
  let reading = true;
  const pipe = {
    pause: () => {
      reading = false;
      handle.readStop();
    },
    resume: () => {
      reading = true;
      // A handle that cannot read any more (an error) is done, like at end of file.
      if (handle.readStart() !== 0) finish();
    },
  };
  const lines = new LinePump(pipe, onLine, flow, () => handle.close());
  const reader: StderrReader = { get done() { return finished; }, stop: () => finish(), ondone: null, handlerExited: ignoreExit };
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    reader.ondone?.();
    handle.onread = ignore;
    if (reading) handle.readStop();
    lines.push(decoder.end());
    lines.end();
  };
  handle.onread = (buffer) => {
    const nread = state[kReadBytesOrError] ?? 0;
    if (nread > 0 && buffer !== undefined) {
      lines.push(decoder.write(Buffer.from(buffer, state[kArrayBufferOffset] ?? 0, nread)));
      return;
    }
    // End of file (every writer is gone) or a read error: either way, done.
    if (nread < 0) finish();
  };
  if (handle.open(source) !== 0) {
    // Not the handle's to close: the descriptor must not leak all the same.
    handle.onread = ignore;
    handle.close();
    closeQuietly(source);
    return NOTHING;
  }
  if (handle.readStart() !== 0) {
    handle.onread = ignore;
    handle.close();
    return NOTHING;
  }
  return reader;
}

/**
 * A handler's stderr as `stderr` events, read no faster than the log writes
 * them. A pipe's descriptor is read only once its handler has lived a while
 * (stderr-lazy.ts), and not while it is parked (stderr-park.ts).
 */
export function logHandlerStderr(source: Readable | number, logger: Logger, fields: { service: string; pid: number }): StderrReader {
  const onLine: OnLine = (message, repeated) => logger.log('info', 'stderr', { ...fields, message, lines: repeated > 1 ? repeated : undefined });
  const flow = logger.flow ?? null;
  const lib = typeof source === 'number' ? loadSys() : null;
  if (typeof source !== 'number' || lib === null || lib instanceof Error) return readStderrLines(source, onLine, flow);
  return lazyStderr(lib, pipeParking(), source, (fd) => readStderrLines(fd, onLine, flow));
}
