// What one remote "source" is for max_per_source and rate_per_source (SPEC §2).
// A host usually holds a whole IPv6 /64, so counting IPv6 by full address
// would let one machine pick a fresh source per connection.

/**
 * The key a remote address counts under: IPv4 as is (`::ffff:a.b.c.d` as
 * `a.b.c.d`), IPv6 as its /64 in RFC 5952 form (`2001:db8:1:2::/64`, `::1`
 * gives `::/64`). A zone (`fe80::1%eth0`) is kept: the same prefix on two
 * links is two networks. '' (a unix socket) stays ''. Anything that does not
 * parse counts under its own text, so a surprise still gets counted.
 */
export function sourceKey(address: string): string {
  if (address.indexOf(':') < 0) return address;
  // Every IPv4 client of a dual-stack socket: worth skipping the parse.
  if (address.startsWith('::ffff:') && address.indexOf('.', 7) > 0 && address.indexOf(':', 7) < 0) return address.slice(7);
  const zoneAt = address.indexOf('%');
  const groups = ipv6Groups(zoneAt < 0 ? address : address.slice(0, zoneAt));
  if (groups === null) return address;
  if (isIpv4Mapped(groups)) {
    const hi = groups[6];
    const lo = groups[7];
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return prefix64(groups) + (zoneAt < 0 ? '' : address.slice(zoneAt));
}

function prefix64(groups: readonly number[]): string {
  // The four zero groups of the host part are always the longest zero run,
  // so RFC 5952 compresses them, together with any zeros just before them.
  let n = 4;
  while (n > 0 && groups[n - 1] === 0) n--;
  let text = '';
  for (let i = 0; i < n; i++) text += (i === 0 ? '' : ':') + groups[i].toString(16);
  return `${text}::/64`;
}

function isIpv4Mapped(groups: readonly number[]): boolean {
  return groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff;
}

// A scanner rather than split and regular expressions: this runs for every
// IPv6 connection, and a flood is when it matters.
const COLON = 0x3a;
const DOT = 0x2e;

/** The eight 16-bit groups of an IPv6 address (no zone), or null. */
function ipv6Groups(text: string): number[] | null {
  const groups: number[] = [];
  const gap = text.indexOf('::');
  if (gap < 0) return fields(text, 0, text.length, true, groups) && groups.length === 8 ? groups : null;
  if (text.indexOf('::', gap + 1) >= 0) return null;
  const tail: number[] = [];
  if (!fields(text, 0, gap, false, groups) || !fields(text, gap + 2, text.length, true, tail)) return null;
  const missing = 8 - groups.length - tail.length;
  if (missing < 1) return null;
  for (let i = 0; i < missing; i++) groups.push(0);
  for (const g of tail) groups.push(g);
  return groups;
}

/** Appends the colon-separated groups of text[start, end) to `out`; a dotted IPv4 tail only where allowed. */
function fields(text: string, start: number, end: number, dottedTail: boolean, out: number[]): boolean {
  if (start === end) return true;
  let value = 0;
  let digits = 0;
  for (let i = start; i <= end; i++) {
    const c = i < end ? text.charCodeAt(i) : COLON;
    if (c === COLON) {
      if (digits === 0) return false;
      out.push(value);
      value = 0;
      digits = 0;
    } else if (c === DOT) {
      if (!dottedTail) return false;
      const v4 = dotted(text, i - digits, end);
      if (v4 < 0) return false;
      out.push(Math.floor(v4 / 0x10000), v4 % 0x10000);
      return true;
    } else {
      const h = hexDigit(c);
      if (h < 0 || ++digits > 4) return false;
      value = value * 16 + h;
    }
  }
  return true;
}

/** text[start, end) as a 32-bit IPv4 address, or -1. */
function dotted(text: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let octets = 0;
  for (let i = start; i <= end; i++) {
    const c = i < end ? text.charCodeAt(i) : DOT;
    if (c === DOT) {
      if (digits === 0 || octet > 255 || ++octets > 4) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39 && ++digits <= 3) {
      octet = octet * 10 + (c - 0x30);
    } else {
      return -1;
    }
  }
  return octets === 4 ? value : -1;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}
