// Splits a handler's stderr into log lines, with a bound on line length so a
// handler that never writes a newline cannot make superd buffer without limit,
// and hands them on at a pace the log and the other services can bear.
import type { Readable } from 'node:stream';
import type { LogFlow } from '../log/types.js';

const MAX_LINE = 4096;
const NL = 10;
const CR = 13;
/**
 * At most this many lines (or characters, read or handed on) per turn of the
 * event loop, with the pipe unread meanwhile: one chunk of a flood (64 KiB,
 * 32768 lines of `yes x`) must not hold up every other connection while it is
 * logged, and libuv, which reads a busy pipe up to 32 times in a row, must
 * not read on.
 */
const LINES_PER_TURN = 256;
const CHARS_PER_TURN = 64 * 1024;
/**
 * After a full read that cost little to log, a pause before the next: it
 * caps what one handler's stderr can take of superd's time (CHARS_PER_TURN a
 * pause at most; without it reading `yes ''` would keep a core busy, which
 * the handlers of other services would feel). A handler that writes more has
 * to wait.
 */
const READ_PAUSE_MS = 1;

/**
 * Lines taken one at a time out of what was read, as they are asked for: a
 * chunk waiting to be logged is one string, not thousands of little ones that
 * live long enough to burden the garbage collector. A `\r` before the newline
 * goes; a line longer than MAX_LINE comes in pieces.
 */
export class LineReader {
  private text = '';
  private pos = 0;
  private ended = false;

  push(chunk: string): void {
    this.text = this.text.slice(this.pos) + chunk;
    this.pos = 0;
  }

  /** No more will come: what is left is a last line. */
  end(): void {
    this.ended = true;
  }

  /** The next line, or null until more is pushed (or for good, after end()). */
  next(): string | null {
    const { text, pos } = this;
    const nl = text.indexOf('\n', pos);
    if (nl < 0) {
      const rest = text.length - pos;
      if (rest > MAX_LINE) return this.take(pos + MAX_LINE, pos + MAX_LINE);
      return this.ended && rest > 0 ? this.take(text.length, text.length) : null;
    }
    const stop = nl > pos && text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
    if (stop - pos > MAX_LINE) return this.take(pos + MAX_LINE, pos + MAX_LINE);
    return this.take(stop, nl + 1);
  }

  /** Skips the empty lines that follow (`\n` or `\r\n`) and says how many there were. */
  skipEmpty(): number {
    const { text } = this;
    let count = 0;
    for (let i = this.pos; i < text.length; ) {
      if (text.charCodeAt(i) === NL) i += 1;
      else if (text.charCodeAt(i) === CR && text.charCodeAt(i + 1) === NL) i += 2;
      else break;
      count += 1;
      this.pos = i;
    }
    return count;
  }

  private take(stop: number, next: number): string {
    const line = this.text.slice(this.pos, stop);
    this.pos = next;
    return line;
  }
}

/** What a pump reads from: it stops reading while lines wait to be handed on. */
export interface PausableSource {
  pause(): void;
  resume(): void;
}

/**
 * `line` once per line, except that a run of empty lines is one call with
 * `repeated` the number of lines: they say nothing but that they were
 * written, and `yes ''` would otherwise be 65536 log events per read.
 */
export type OnLine = (line: string, repeated: number) => void;

/**
 * Between a source and the log: hands on a bounded number of lines per turn,
 * and stops reading while lines are waiting or while the log is behind
 * (flow), so a handler that writes faster than superd logs is slowed down
 * (its writes block on the full pipe) instead of superd's memory growing.
 */
export class LinePump {
  private readonly reader = new LineReader();
  private paused = false;
  private scheduled = false;
  private ended = false;
  private done = false;
  /** Characters read since the last yield to the event loop. */
  private input = 0;

  constructor(
    private readonly source: PausableSource,
    private readonly onLine: OnLine,
    private readonly flow: LogFlow | null,
    private readonly onEnd: () => void = () => undefined,
  ) {}

  push(text: string): void {
    this.input += text.length;
    this.reader.push(text);
    this.pump();
  }

  /** End of the source: what is left is handed on, then onEnd. */
  end(): void {
    this.reader.end();
    this.ended = true;
    this.pump();
  }

  private pump(): void {
    if (this.scheduled || this.done) return;
    let line: string | null = null;
    for (let n = 0, chars = 0; n < LINES_PER_TURN && chars < CHARS_PER_TURN; n++) {
      line = this.reader.next();
      if (line === null) break;
      chars += line.length;
      this.onLine(line, line === '' ? 1 + this.reader.skipEmpty() : 1);
    }
    if (line !== null || this.input >= CHARS_PER_TURN) {
      // More may be waiting: the rest on a later turn, the pipe unread until then.
      this.pause();
      this.scheduled = true;
      const next = (): void => {
        this.scheduled = false;
        this.input = 0;
        this.pump();
      };
      // Lines still to hand on: the next turn. A full read all handed on
      // (`yes ''`, a run of empty lines): the next read after a pause.
      if (line !== null) setImmediate(next);
      else setTimeout(next, READ_PAUSE_MS);
      return;
    }
    if (this.ended) {
      this.done = true;
      return this.onEnd();
    }
    if (this.flow?.behind() === true) {
      this.pause();
      this.flow.whenCaughtUp(() => this.resume());
      return;
    }
    this.resume();
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.source.pause();
  }

  private resume(): void {
    if (!this.paused || this.done) return;
    this.paused = false;
    this.source.resume();
  }
}

export function forEachLine(stream: Readable, onLine: OnLine, flow: LogFlow | null = null): void {
  const pump = new LinePump(stream, onLine, flow);
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => pump.push(chunk));
  stream.on('end', () => pump.end());
  stream.on('error', () => undefined);
}
