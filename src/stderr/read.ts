// Reads a handler's standard error and reports it line by line: a stream
// (child_process's) as it comes, a pipe's read end by the path chosen at
// start (internals/pipe.ts: libuv's pipe handle, or a net.Socket).
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import type { LogFlow, Logger } from '../log/types.js';
import { forEachLine, LinePump, type OnLine } from './lines.js';
import { readPipe, type PipeReader } from '../internals/pipe.js';
import { StderrPipe } from './pipe.js';

const ignoreExit = (): void => undefined;

/** A handler's stderr being read: done at its end of file, or stopped early (closing superd's end). */
export interface StderrReader {
  readonly done: boolean;
  stop(): void;
  /** Called once when it is done (end of file, an error, or stop()). */
  ondone: (() => void) | null;
  /** Its handler has been reaped: a pipe no one else holds and nothing was written to can be closed now. */
  handlerExited(): void;
  /** The pipe's descriptor while superd holds it (an upgrade passes it on: src/upgrade/); null when it cannot be had. */
  descriptor?(): number | null;
}

/**
 * Calls onLine for each line the handler writes to `source` (a stream, or the
 * descriptor of a pipe's read end, closed at end of file); a run of empty
 * lines is one call (lines.ts). With a flow, the pipe is not read while the
 * log is behind. Returns how to stop early: a process the handler left
 * behind may hold the pipe open for ever.
 */
export function readStderrLines(source: Readable | number, onLine: OnLine, flow: LogFlow | null = null): StderrReader {
  if (typeof source === 'number') return readPipeLines(source, onLine, flow);
  const stream = source;
  forEachLine(stream, onLine, flow);
  const reader: StderrReader = { get done() { return stream.destroyed || stream.readableEnded; }, stop: () => stream.destroy(), ondone: null, handlerExited: ignoreExit };
  stream.once('close', () => reader.ondone?.());
  return reader;
}

/**
 * A pipe's read end, read by the path the start-time check chose
 * (internals/pipe.ts: libuv's pipe handle, or a net.Socket on the descriptor).
 */
function readPipeLines(fd: number, onLine: OnLine, flow: LogFlow | null): StderrReader {
  let pipe: PipeReader | null = null;
  let finished = false;
  const decoder = new StringDecoder('utf8');
  const lines = new LinePump({ pause: () => pipe?.pause(), resume: () => pipe?.resume() }, onLine, flow, () => pipe?.close());
  // End of file, a read error, or stop(): what the decoder still holds is the last line; the descriptor is closed once the lines are handed on.
  const finish = (): void => {
    if (finished) return;
    finished = true;
    reader.ondone?.();
    lines.push(decoder.end());
    lines.end();
  };
  const reader: StderrReader = {
    get done() {
      return finished;
    },
    stop: () => {
      pipe?.stop();
      finish();
    },
    ondone: null,
    handlerExited: ignoreExit,
    descriptor: () => (finished ? null : fd),
  };
  pipe = readPipe(fd, (chunk) => lines.push(decoder.write(chunk)), finish);
  // Not readable at all (its descriptor closed already): done, with nothing to say.
  if (pipe === null) finished = true;
  return reader;
}

/**
 * A handler's stderr as `stderr` events, read no faster than the log writes
 * them: a stream as it comes; a pipe of the spawner's (pipe.ts) once it is
 * to be read, neither while it is young nor while it is parked; a bare
 * descriptor (a PosixSpawner on its own) at once.
 */
export function logHandlerStderr(source: Readable | StderrPipe | number, logger: Logger, fields: { service: string; pid: number }): StderrReader {
  const onLine: OnLine = (message, repeated) => logger.log('info', 'stderr', { ...fields, message, lines: repeated > 1 ? repeated : undefined });
  const flow = logger.flow ?? null;
  return source instanceof StderrPipe ? source.log(onLine, flow) : readStderrLines(source, onLine, flow);
}
