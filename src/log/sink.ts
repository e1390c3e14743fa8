// Where formatted log lines go (standard error or --log-file), how much of
// them may wait to be written, and what happens when that place fails.
// Logging must never take the daemon down: a target that fails drops lines,
// counts them, says so once where it still can, and the count is the first
// line written once the log works again. A --log-file is opened as target.ts
// says, never through a symlink.
import { close, createWriteStream, write, writev, writeSync, type WriteStream } from 'node:fs';
import { stderrPrefix } from './journal.js';
import { openLogFile } from './target.js';
import type { LogFlow } from './types.js';

/** Past this much unwritten log, readers of a flood (a handler's stderr) wait for it. */
export const LOG_BEHIND_BYTES = 256 * 1024;
/** Past this much, lines are dropped and counted: superd's memory stays bounded whoever logs. */
export const LOG_DROP_BYTES = 8 * 1024 * 1024;
/** A --log-file that failed is opened again, at most this often, when there is a line for it. */
export const LOG_RETRY_MS = 5000;
/**
 * Lines are written at most this often while they keep coming: one write per
 * connection (or two: `accepted`, `exited`) was a measurable part of superd's
 * CPU per connection, and with --log-file each write is a hand-off to the
 * thread pool. A line after a quiet spell still goes out in the same turn.
 */
export const LOG_FLUSH_MS = 25;
/** ...unless this much is waiting: then it goes out at once. */
const LOG_FLUSH_BYTES = 64 * 1024;

/** The sink's own events as a line, or null when their level is not logged. */
export type RenderLine = (level: 'error' | 'warn', event: string, fields: Record<string, string | number>) => string | null;

type Target = NodeJS.WritableStream & { writableLength?: number };

const sinks = new Set<LogSink>();
let guarded = false;

/**
 * Once per process: standard error may be a pipe whose reader is gone (EPIPE)
 * or a full disk. With no 'error' listener Node would throw that from the
 * event loop; every writer of stderr (log lines, `superd: cannot start`)
 * shares this one, and a sink writing there stops.
 */
function guardProcess(): void {
  if (guarded) return;
  guarded = true;
  process.stderr.on('error', (err) => {
    for (const sink of sinks) sink.failed(process.stderr, err);
  });
  process.stderr.on('drain', () => {
    for (const sink of sinks) sink.caughtUp();
  });
  // Lines logged just before an exit must not be lost.
  process.on('exit', () => {
    for (const sink of sinks) sink.flushSync();
  });
}

export class LogSink implements LogFlow {
  private stream: Target | null;
  private pending: string[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  /** performance.now() of the last write (0: never). */
  private lastFlush = 0;
  /** Lines known not to have been written since the last note about it. */
  private lost = 0;
  /** Lines dropped since start, never reset (--metrics: superd_log_lines_dropped_total). */
  private droppedTotal = 0;
  private lostBecause: { reason: 'write_error'; error: string } | { reason: 'backlog' } = { reason: 'backlog' };
  /** When the failed target was last opened (a retry is due LOG_RETRY_MS after). */
  private failedAt = 0;
  /** The current failure has been reported on stderr: not again until a write succeeds. */
  private reported = false;
  private waiters: (() => void)[] = [];
  /** A closed --log-file: lines are dropped without a note, no retry. */
  private closed = false;

  /** file: null for standard error. */
  constructor(
    private file: string | null,
    private readonly render: RenderLine,
  ) {
    guardProcess();
    sinks.add(this);
    this.stream = file === null ? process.stderr : this.open(file);
  }

  /** One formatted line (without its newline). Lines added in one turn of the event loop go out as one write. */
  add(line: string): void {
    if (this.closed) return;
    if (this.stream === null) this.retry();
    if (this.stream === null || this.queued() >= LOG_DROP_BYTES) {
      if (this.stream !== null) this.lostBecause = { reason: 'backlog' };
      this.drop(1);
      return;
    }
    this.pending.push(`${line}\n`);
    this.pendingBytes += line.length + 1;
    this.schedule();
  }

  /** One write per event-loop turn after a quiet spell, else one per LOG_FLUSH_MS (or LOG_FLUSH_BYTES). */
  private schedule(): void {
    if (this.scheduled) {
      if (this.pendingBytes < LOG_FLUSH_BYTES || this.timer === null) return;
      clearTimeout(this.timer);
    }
    this.scheduled = true;
    const wait = LOG_FLUSH_MS - (performance.now() - this.lastFlush);
    if (wait <= 0 || this.pendingBytes >= LOG_FLUSH_BYTES) {
      this.timer = null;
      setImmediate(() => this.flush());
    } else {
      this.timer = setTimeout(() => this.flush(), wait);
      // Never what keeps superd alive; exit flushes what is pending.
      this.timer.unref();
    }
  }

  behind(): boolean {
    return this.stream !== null && this.queued() > LOG_BEHIND_BYTES;
  }

  whenCaughtUp(fn: () => void): void {
    this.waiters.push(fn);
    this.settle();
  }

  flush(): void {
    this.scheduled = false;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.lastFlush = performance.now();
    if (this.pending.length === 0) return this.settle();
    const text = this.pending.join('');
    const lines = this.pending.length;
    this.pending = [];
    this.pendingBytes = 0;
    const stream = this.stream;
    if (stream === null) {
      this.drop(lines);
      return this.settle();
    }
    stream.write(text, (err) => {
      if (err) {
        this.drop(lines);
        this.failed(stream, err);
      } else if (stream === this.stream) {
        this.reported = false;
      }
    });
    this.settle();
  }

  /** What is pending goes out now; resolves once the target has taken it all (written, or failed). */
  flushed(): Promise<void> {
    this.flush();
    const stream = this.stream;
    if (stream === null) return Promise.resolve();
    return new Promise((resolve) => stream.write('', () => resolve()));
  }

  /** SIGUSR2 (logrotate): the file is opened again by name. Nothing for standard error. */
  reopen(): void {
    if (this.file === null) return;
    this.flush();
    const old = this.stream;
    this.stream = this.open(this.file);
    this.noteLost();
    if (old !== null) old.end();
  }

  /**
   * Writes what is waiting and closes the file. Later lines go to standard
   * error when that was the log, and nowhere after a --log-file: stderr is
   * then not where anyone reads the log.
   */
  close(): Promise<void> {
    this.flush();
    if (this.file === null) return Promise.resolve();
    const old = this.stream;
    this.file = null;
    this.stream = null;
    this.closed = true;
    if (old === null) return Promise.resolve();
    return new Promise((resolve) => old.end(() => resolve()));
  }

  /** A target failed (an 'error' event or a write callback): it is used no more. */
  failed(stream: Target, err: Error): void {
    if (stream !== this.stream) return; // an earlier file, already replaced, or stderr we no longer write to
    this.stream = null;
    this.lostBecause = { reason: 'write_error', error: err.message };
    this.drop(this.pending.length);
    this.pending = [];
    this.pendingBytes = 0;
    this.failedAt = Date.now();
    // The log is not behind any more: who waits for it is let go (lines are dropped now).
    this.settle();
    // Standard error failing has nowhere to say so; a file failing says it there.
    if (this.file === null || this.reported) return;
    this.reported = true;
    const line = this.render('error', 'log_failed', {
      file: this.file,
      error: err.message,
      message: `log lines are dropped (and counted) until the file can be written again: it is tried every ${LOG_RETRY_MS / 1000} s and on SIGUSR2`,
    });
    // A line for standard error, not for the file: the journal's prefix if stderr is the journal.
    if (line !== null) process.stderr.write(`${stderrPrefix('error')}${line}\n`);
  }

  /** At exit: what is still pending is written synchronously where that is possible. */
  flushSync(): void {
    if (this.pending.length === 0 || this.stream === null) return;
    const text = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    const stream = this.stream;
    try {
      const fd = (stream as { fd?: unknown }).fd;
      if (stream !== process.stderr && typeof fd === 'number' && stream.writableLength === 0) writeSync(fd, text);
      else stream.write(text);
    } catch {
      // Exiting: nothing left to tell.
    }
  }

  private open(file: string): WriteStream {
    const stream = createWriteStream(file, {
      highWaterMark: LOG_BEHIND_BYTES,
      fs: { open: openLogFile, write, writev, close },
    });
    stream.on('error', (err) => this.failed(stream, err));
    stream.on('drain', () => this.caughtUp());
    return stream;
  }

  /** A failed --log-file is opened again when a line comes and the last try is old enough. */
  private retry(): void {
    if (this.file === null || Date.now() - this.failedAt < LOG_RETRY_MS) return;
    this.failedAt = Date.now();
    this.stream = this.open(this.file);
    this.noteLost();
  }

  private drop(lines: number): void {
    this.lost += lines;
    this.droppedTotal += lines;
  }

  get dropped(): number {
    return this.droppedTotal;
  }

  private queued(): number {
    return this.pendingBytes + (this.stream?.writableLength ?? 0);
  }

  /** A target's buffer has been written out. */
  caughtUp(): void {
    this.settle();
  }

  /** The log takes lines again: the first says how many were lost, and waiting readers go on. */
  private settle(): void {
    if (this.behind()) return;
    if (this.stream !== null && this.lost > 0) this.noteLost();
    const waiters = this.waiters;
    this.waiters = [];
    for (const fn of waiters) fn();
  }

  private noteLost(): void {
    if (this.lost === 0 || this.stream === null) return;
    const count = this.lost;
    const why = this.lostBecause;
    this.lost = 0;
    const cause = why.reason === 'write_error' ? `the log could not be written: ${why.error}` : 'more was waiting to be written than superd holds';
    const line = this.render('warn', 'log_dropped', {
      count,
      ...why,
      message: `${count} log line(s) were dropped: ${cause}`,
    });
    if (line === null) return;
    // First in line: it is about what came before the lines now waiting.
    this.pending.unshift(`${line}\n`);
    this.pendingBytes += line.length + 1;
    this.schedule();
  }
}
