// Sets of IP addresses, exact: sorted, disjoint, inclusive ranges in one
// 128-bit space where an IPv4 address is ::ffff:a.b.c.d. That is how tcpd
// matches a v4-mapped client against an IPv4 pattern, and how superd's
// only_from and no_access (node:net BlockList) match an IPv4 client against
// an IPv6 block, so a set computed here means the same in both. Union,
// intersection and difference are exact; `blocks()` gives the fewest CIDR
// blocks that cover the set and nothing else.

import { isIP } from 'node:net';

type Range = readonly [bigint, bigint];

const TOP = (1n << 128n) - 1n;
/** ::ffff:0.0.0.0, where IPv4 lives. */
const V4_BASE = 0xffffn << 32n;

function parseV4(text: string): bigint | null {
  if (isIP(text) !== 4) return null;
  return text.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

function parseV6(text: string): bigint | null {
  const plain = text.replace(/%.*$/, '');
  if (isIP(plain) !== 6) return null;
  const [head = '', tail = ''] = plain.includes('::') ? plain.split('::') : [plain, ''];
  const expand = (part: string): bigint[] =>
    part === ''
      ? []
      : part.split(':').flatMap((g) => {
          if (!g.includes('.')) return [BigInt(parseInt(g, 16))];
          const v = parseV4(g) ?? 0n;
          return [v >> 16n, v & 0xffffn];
        });
  const h = expand(head);
  const t = expand(tail);
  const groups = plain.includes('::') ? [...h, ...Array<bigint>(8 - h.length - t.length).fill(0n), ...t] : h;
  return groups.reduce((acc, g) => (acc << 16n) | g, 0n);
}

function renderV4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
}

function renderV6(v: bigint): string {
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((s) => Number((v >> s) & 0xffffn));
  // The longest run of two or more zero groups becomes '::' (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export class AddrSet {
  private constructor(private readonly ranges: readonly Range[]) {}

  static readonly none = new AddrSet([]);
  static readonly all = new AddrSet([[0n, TOP]]);
  /** Every IPv4 address (as ::ffff:0.0.0.0/96). */
  static readonly ipv4 = new AddrSet([[V4_BASE, V4_BASE + 0xffffffffn]]);

  /** `10.0.0.1`, `10.0.0.0/8`, `::1`, `2001:db8::/32`; null for anything else. */
  static parse(text: string): AddrSet | null {
    const slash = text.indexOf('/');
    const address = slash < 0 ? text : text.slice(0, slash);
    const prefixText = slash < 0 ? null : text.slice(slash + 1);
    const v4 = parseV4(address);
    const base = v4 !== null ? V4_BASE + v4 : parseV6(address);
    if (base === null) return null;
    const width = v4 !== null ? 32 : 128;
    if (prefixText !== null && !/^\d{1,3}$/.test(prefixText)) return null;
    const prefix = prefixText === null ? width : Number(prefixText);
    if (prefix > width) return null;
    return AddrSet.block(base, 128 - width + prefix);
  }

  /** The block of `prefix` bits around `address` (in the 128-bit space). */
  static block(address: bigint, prefix: number): AddrSet {
    const size = 1n << BigInt(128 - prefix);
    const lo = address - (address % size);
    return new AddrSet([[lo, lo + size - 1n]]);
  }

  static union(sets: readonly AddrSet[]): AddrSet {
    return sets.reduce((acc, s) => acc.union(s), AddrSet.none);
  }

  isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  isAll(): boolean {
    return this.ranges.length === 1 && this.ranges[0]?.[0] === 0n && this.ranges[0]?.[1] === TOP;
  }

  equals(other: AddrSet): boolean {
    return this.ranges.length === other.ranges.length && this.ranges.every(([a, b], i) => other.ranges[i]?.[0] === a && other.ranges[i]?.[1] === b);
  }

  /** Whether `address` (IPv4, IPv6 or v4-mapped) is in the set. */
  has(address: string): boolean {
    const v4 = parseV4(address);
    const v = v4 !== null ? V4_BASE + v4 : parseV6(address);
    return v !== null && this.ranges.some(([lo, hi]) => v >= lo && v <= hi);
  }

  union(other: AddrSet): AddrSet {
    const all = [...this.ranges, ...other.ranges].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const out: [bigint, bigint][] = [];
    for (const [lo, hi] of all) {
      const last = out[out.length - 1];
      if (last !== undefined && lo <= last[1] + 1n) last[1] = hi > last[1] ? hi : last[1];
      else out.push([lo, hi]);
    }
    return new AddrSet(out);
  }

  complement(): AddrSet {
    const out: Range[] = [];
    let next = 0n;
    for (const [lo, hi] of this.ranges) {
      if (lo > next) out.push([next, lo - 1n]);
      next = hi + 1n;
    }
    if (next <= TOP) out.push([next, TOP]);
    return new AddrSet(out);
  }

  intersect(other: AddrSet): AddrSet {
    return this.complement().union(other.complement()).complement();
  }

  minus(other: AddrSet): AddrSet {
    return this.intersect(other.complement());
  }

  /**
   * The fewest CIDR blocks whose union is the set, as superd's only_from
   * takes them: IPv4 blocks in dotted form and first, a single address
   * without `/32`.
   */
  blocks(): string[] {
    const out: string[] = [];
    for (const [first, last] of this.ranges) {
      let lo = first;
      while (lo <= last) {
        let bits = 0n;
        while (bits < 128n && lo % (1n << (bits + 1n)) === 0n && lo + (1n << (bits + 1n)) - 1n <= last) bits++;
        out.push(render(lo, 128 - Number(bits)));
        lo += 1n << bits;
      }
    }
    return [...out.filter((b) => !b.includes(':')), ...out.filter((b) => b.includes(':'))];
  }
}

function render(base: bigint, prefix: number): string {
  if (prefix >= 96 && base >= V4_BASE && base <= V4_BASE + 0xffffffffn) {
    const address = renderV4(base - V4_BASE);
    return prefix === 128 ? address : `${address}/${prefix - 96}`;
  }
  const address = renderV6(base);
  return prefix === 128 ? address : `${address}/${prefix}`;
}
