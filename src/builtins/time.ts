// RFC 868: the time as 32-bit big-endian seconds since 1900-01-01T00:00:00Z.
import type { Builtin } from './types.js';
import { linger, replyAndEnd } from './reply.js';

/** Seconds from 1900-01-01 to 1970-01-01, the Unix epoch. */
const FROM_1900_TO_1970 = 2_208_988_800;
const WRAP = 2 ** 32;

/** The RFC 868 count for `date`, modulo 2^32: it wraps on 2036-02-07T06:28:16Z. */
export function rfc868Seconds(date: Date): number {
  const seconds = Math.floor(date.getTime() / 1000) + FROM_1900_TO_1970;
  return ((seconds % WRAP) + WRAP) % WRAP;
}

/** The four bytes sent on the wire. */
export function rfc868Bytes(date: Date): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(rfc868Seconds(date));
  return out;
}

export const time: Builtin = {
  serveStream(socket, done, now = () => new Date()) {
    replyAndEnd(socket, done, rfc868Bytes(now()));
  },
  resumeStream: linger,
  answerDatagram(_request, now = new Date()) {
    return rfc868Bytes(now);
  },
};
