// The pieces the checks are made of: outcomes, one deadline for the whole
// check, what a throwaway socket has received, and the list of what a check
// made, undone at its end whatever happened.
import type { Readable } from 'node:stream';
import { fdLink, isNonBlocking } from './procfd.js';
import type { BetOutcome, Why } from './paths.js';

export const passed = (detail: string): BetOutcome => ({ ok: true, why: null, detail });
export const failed = (why: Why, detail: string): BetOutcome => ({ ok: false, why, detail });
export const AVOIDED = failed('avoided', 'avoided by --avoid-internals');

export const LATE = Symbol('late');

/** One time limit for a whole check: every wait in it ends by then. */
export class Deadline {
  private timer: NodeJS.Timeout | null = null;
  private readonly over: Promise<typeof LATE>;
  expired = false;

  constructor(readonly ms: number) {
    this.over = new Promise((resolve) => {
      this.timer = setTimeout(() => {
        this.expired = true;
        resolve(LATE);
      }, ms);
    });
  }

  /** `promise`'s value, or LATE once the time is up. */
  wait<T>(promise: Promise<T>): Promise<T | typeof LATE> {
    return this.expired ? Promise.resolve(LATE) : Promise.race([promise, this.over]);
  }

  clear(): void {
    if (this.timer !== null) clearTimeout(this.timer);
  }
}

/** Everything a check made, undone last first; an undo that throws does not stop the others. */
export class Made {
  private readonly undo: (() => void)[] = [];

  add(undo: () => void): void {
    this.undo.push(undo);
  }

  undoAll(): void {
    for (const u of this.undo.splice(0).reverse()) {
      try {
        u();
      } catch {
        // Already gone.
      }
    }
  }
}

/** What a stream has received so far, as text, and a wait for an exact text. */
export class Received {
  text = '';
  ended = false;
  private changed: () => void = () => undefined;

  constructor(stream: Readable) {
    stream.on('data', (chunk: Buffer) => {
      this.text += chunk.toString('latin1');
      this.changed();
    });
    stream.once('end', () => {
      this.ended = true;
      this.changed();
    });
  }

  /** True once exactly `text` has come, false as soon as something else has (or the stream ended short of it). */
  until(text: string): Promise<boolean> {
    return this.when(() => (this.text === text ? true : this.text.length >= text.length || this.ended ? false : null));
  }

  /** True at the stream's end, after exactly the text received so far. */
  end(): Promise<boolean> {
    const sofar = this.text;
    return this.when(() => (this.ended ? this.text === sofar : this.text !== sofar ? false : null));
  }

  private when(settled: () => boolean | null): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): void => {
        const s = settled();
        if (s === null) return;
        this.changed = () => undefined;
        resolve(s);
      };
      this.changed = check;
      check();
    });
  }
}

/**
 * Whether `fd` is the descriptor that `setBlocking` acts on: a socket, which
 * libuv keeps non-blocking, whose O_NONBLOCK the kernel shows going off and
 * on again as `setBlocking(true)` and `setBlocking(false)` are called. That
 * proves both the descriptor and the call. Ends non-blocking, as it began.
 */
export function provesDescriptor(fd: number, setBlocking: (blocking: boolean) => number | null, what: string): BetOutcome {
  const link = fdLink(fd);
  if (link === null) return failed('misbehaved', `${what} gave descriptor ${fd}, which is not open`);
  if (!link.startsWith('socket:')) return failed('misbehaved', `${what} gave descriptor ${fd}, which is ${link}, not a socket`);
  if (isNonBlocking(fd) !== true) return failed('misbehaved', `${what} gave descriptor ${fd}, which is blocking: not libuv's`);
  const on = setBlocking(true);
  const blocking = isNonBlocking(fd) === false;
  const off = setBlocking(false);
  const restored = isNonBlocking(fd) === true;
  if (on !== 0 || off !== 0) return failed('misbehaved', `setBlocking on ${what} returned ${String(on)}, then ${String(off)}`);
  if (!blocking || !restored) return failed('misbehaved', `setBlocking on ${what} did not switch O_NONBLOCK of descriptor ${fd}: it is not the socket's`);
  return passed(`descriptor ${fd} is ${what}'s: setBlocking switches its O_NONBLOCK`);
}

