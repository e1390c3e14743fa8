// RFC 864: the 95 printable ASCII characters as a ring; line n is characters
// n..n+71 of the ring followed by CRLF.
import type { Builtin } from './types.js';
import { whenOver } from './over.js';

const RING = Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)).join('');
const LINE_CHARS = 72;
/** A line with its CRLF. */
export const CHARGEN_LINE_BYTES = LINE_CHARS + 2;
/** After 95 lines the pattern starts over, so the tcp stream repeats every this many bytes. */
export const CHARGEN_PERIOD_BYTES = RING.length * CHARGEN_LINE_BYTES;

/** Line n (from 0) of the pattern, with its CRLF. */
export function chargenLine(n: number): string {
  const start = ((n % RING.length) + RING.length) % RING.length;
  return (RING + RING).slice(start, start + LINE_CHARS) + '\r\n';
}

const PERIOD = Buffer.from(Array.from({ length: RING.length }, (_, n) => chargenLine(n)).join(''), 'latin1');

/** `length` bytes of the tcp stream, starting `offset` bytes into it. */
export function chargenBytes(offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let at = 0;
  let from = offset % CHARGEN_PERIOD_BYTES;
  while (at < length) {
    at += PERIOD.copy(out, at, from);
    from = 0;
  }
  return out;
}

// Below the default 16 KiB high-water mark, so a slow client holds at most a
// couple of chunks in our buffer.
const CHUNK = 2 * CHARGEN_PERIOD_BYTES;
// Every chunk is a view of this: no allocation per write, and it is never modified.
const SPAN = chargenBytes(0, CHARGEN_PERIOD_BYTES + CHUNK);
// Writes per turn of the event loop while the kernel keeps taking them.
const BURST = 16;

/**
 * A udp reply is one line (74 bytes), the next line of the ring each time, as
 * the BSD inetds answer: the RFC allows any length from 0 to 512, and a reply
 * no longer than a small request leaves a forged one little to amplify
 * (six lines, 444 bytes, to an empty datagram was what this once sent).
 */
let nextDatagramLine = 0;

/** The reply to the next udp request: one whole line of the ring with its CRLF. */
export function chargenDatagram(): Buffer {
  const at = nextDatagramLine * CHARGEN_LINE_BYTES;
  nextDatagramLine = (nextDatagramLine + 1) % RING.length;
  // A copy: the caller may change it, the pattern stays as it is.
  return Buffer.from(PERIOD.subarray(at, at + CHARGEN_LINE_BYTES));
}

export const chargen: Builtin = {
  serveStream(socket, done) {
    let over = false;
    whenOver(socket, () => {
      over = true;
      done();
    });
    // Input is ignored but read, so a client that sends is never blocked on us.
    socket.resume();
    let offset = 0;
    const pump = (): void => {
      for (let i = 0; i < BURST; i++) {
        if (over || socket.destroyed || !socket.writable) return;
        const chunk = SPAN.subarray(offset, offset + CHUNK);
        offset = (offset + CHUNK) % CHARGEN_PERIOD_BYTES;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
      // A fast reader could keep write() returning true forever; yield so the
      // rest of superd still runs.
      setImmediate(pump);
    };
    pump();
  },
  answerDatagram() {
    return chargenDatagram();
  },
};
