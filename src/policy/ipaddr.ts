// IP address text to numbers for the checks made on every udp datagram
// (datagram.ts): a scanner that allocates nothing, writing IPv6 groups into
// an array the caller owns, so a flood costs no garbage.

const COLON = 0x3a;
const DOT = 0x2e;

/** text[start, end) as a dotted IPv4 address, as an unsigned 32-bit number; -1 if it is not one. */
export function ipv4Value(text: string, start = 0, end = text.length): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === DOT) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39 && ++digits <= 3) {
      octet = octet * 10 + (c - 0x30);
      if (octet > 255) return -1;
    } else {
      return -1;
    }
  }
  return dots === 3 && digits > 0 ? value * 256 + octet : -1;
}

/**
 * Writes the eight 16-bit groups of an IPv6 address into `out` and says
 * whether `text` is one. A zone (`fe80::1%eth0`) is ignored: it says which
 * link, not which host. A dotted IPv4 tail (`::ffff:192.0.2.1`) gives the
 * last two groups.
 */
export function ipv6Groups(text: string, out: Uint16Array): boolean {
  const zone = text.indexOf('%');
  const end = zone < 0 ? text.length : zone;
  let n = 0;
  // Where `::` stands, as the number of groups before it; -1: none.
  let gap = -1;
  let i = 0;
  if (end >= 2 && text.charCodeAt(0) === COLON && text.charCodeAt(1) === COLON) {
    gap = 0;
    i = 2;
  }
  while (i < end) {
    let value = 0;
    let digits = 0;
    let j = i;
    for (; j < end; j++) {
      const h = hexDigit(text.charCodeAt(j));
      if (h < 0) break;
      value = value * 16 + h;
      digits++;
    }
    if (j < end && text.charCodeAt(j) === DOT) {
      // The last 32 bits as dotted IPv4: nothing may follow it.
      const v4 = n <= 6 ? ipv4Value(text, i, end) : -1;
      if (v4 < 0) return false;
      out[n++] = Math.floor(v4 / 0x10000);
      out[n++] = v4 % 0x10000;
      break;
    }
    if (digits === 0 || digits > 4 || n === 8) return false;
    out[n++] = value;
    if (j === end) break;
    if (text.charCodeAt(j) !== COLON) return false;
    i = j + 1;
    if (i < end && text.charCodeAt(i) === COLON) {
      if (gap >= 0) return false;
      gap = n;
      i++;
    } else if (i === end) {
      return false; // a single trailing colon
    }
  }
  if (gap < 0) return n === 8;
  // `::` stands for at least one zero group.
  if (n > 7) return false;
  const after = n - gap;
  for (let k = 1; k <= after; k++) out[8 - k] = out[n - k];
  for (let k = gap; k < 8 - after; k++) out[k] = 0;
  return true;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}
