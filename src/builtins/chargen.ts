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
/**
 * A udp reply is always the first six lines (444 bytes): the RFC asks for any
 * length from 0 to 512, and six is the most whole CRLF-ended lines that fit, so
 * a client never sees a cut line and every reply is the same.
 */
export const CHARGEN_DATAGRAM_LINES = Math.floor(512 / CHARGEN_LINE_BYTES);

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

const DATAGRAM = chargenBytes(0, CHARGEN_DATAGRAM_LINES * CHARGEN_LINE_BYTES);

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
    return Buffer.from(DATAGRAM);
  },
};
