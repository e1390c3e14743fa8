// The one codec of 64-bit unsigned integers in native memory (little-endian:
// load.ts refuses other hosts), as plain numbers.

/** Exact below 2^53, far above any limit superd reads; 2^64 - 1 (RLIM_INFINITY) reads as 2^64. */
export function readUint64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * 2 ** 32;
}

/** The inverse of readUint64: 2^64 (or more) is written as 2^64 - 1. */
export function writeUint64(buf: Buffer, at: number, value: number): void {
  if (value >= 2 ** 64) {
    buf.fill(0xff, at, at + 8);
    return;
  }
  buf.writeUInt32LE(value % 2 ** 32, at);
  buf.writeUInt32LE(Math.floor(value / 2 ** 32), at + 4);
}
