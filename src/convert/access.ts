// xinetd's only_from / no_access entries -> superd's addresses and CIDR
// blocks. xinetd also takes `128.138.12.0` (trailing zeros are wildcards),
// `0.0.0.0` (everyone), `128.138.{209,210}` (factorized), host, domain and
// network names. Names are never resolved by superd, so they cannot be
// converted: the caller decides what leaving them out means.

import { isIP } from 'node:net';

export interface ConvertedList {
  /** Addresses and CIDR blocks superd takes. */
  blocks: string[];
  /** Entries that are names, kept for the comment that says they were left out. */
  names: string[];
}

const FACTORIZED = /^(\d{1,3}(?:\.\d{1,3}){0,2})\.\{(\d{1,3}(?:,\d{1,3})*)\}$/;

export function convertAddresses(entries: readonly string[]): ConvertedList {
  const out: ConvertedList = { blocks: [], names: [] };
  const add = (b: string): void => {
    if (!out.blocks.includes(b)) out.blocks.push(b);
  };
  for (const entry of entries) {
    const converted = convertOne(entry);
    if (converted === null) out.names.push(entry);
    else converted.forEach(add);
  }
  return out;
}

function convertOne(entry: string): string[] | null {
  const slash = entry.indexOf('/');
  if (slash >= 0) {
    const family = isIP(entry.slice(0, slash));
    const prefix = entry.slice(slash + 1);
    const max = family === 4 ? 32 : 128;
    return family !== 0 && /^\d+$/.test(prefix) && Number(prefix) <= max ? [entry] : null;
  }
  const family = isIP(entry);
  if (family === 6) return [entry];
  if (family === 4) {
    const octets = entry.split('.');
    if (octets.every((o) => Number(o) === 0)) return ['0.0.0.0/0', '::/0'];
    let zeros = 0;
    while (zeros < 4 && Number(octets[3 - zeros]) === 0) zeros += 1;
    return [zeros === 0 ? entry : `${entry}/${32 - 8 * zeros}`];
  }
  const factorized = FACTORIZED.exec(entry);
  if (factorized === null) return null;
  const head = (factorized[1] as string).split('.');
  if (head.length > 3 || [...head].some((o) => Number(o) > 255)) return null;
  const blocks: string[] = [];
  for (const last of (factorized[2] as string).split(',')) {
    if (Number(last) > 255) return null;
    const given = [...head, last].map((o) => String(Number(o)));
    const padded = [...given, '0', '0', '0'].slice(0, 4).join('.');
    blocks.push(given.length === 4 ? padded : `${padded}/${8 * given.length}`);
  }
  return blocks;
}

// ---------------------------------------------------------------------------
// Containment, to say where superd's "no_access wins" differs from xinetd's
// "the more specific entry wins".

interface Block {
  family: 4 | 6;
  bits: bigint;
  prefix: number;
}

function toBits(address: string, family: 4 | 6): bigint {
  if (family === 4) return address.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
  const [head = '', tail = ''] = address.includes('::') ? address.split('::') : [address, ''];
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  // An embedded IPv4 tail (`::ffff:1.2.3.4`) counts as two groups.
  const expand = (groups: string[]): string[] =>
    groups.flatMap((g) => {
      if (!g.includes('.')) return [g];
      const v = toBits(g, 4);
      return [(v >> 16n).toString(16), (v & 0xffffn).toString(16)];
    });
  const hh = expand(h);
  const tt = expand(t);
  const groups = address.includes('::') ? [...hh, ...Array<string>(8 - hh.length - tt.length).fill('0'), ...tt] : hh;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function parseBlock(text: string): Block | null {
  const [address = '', prefixText] = text.split('/');
  const plain = address.replace(/%.*$/, '');
  const family = isIP(plain);
  if (family !== 4 && family !== 6) return null;
  const width = family === 4 ? 32 : 128;
  return { family, bits: toBits(plain, family), prefix: prefixText === undefined ? width : Number(prefixText) };
}

/** Whether `inner` lies inside `outer` and is strictly more specific. */
export function strictlyInside(inner: string, outer: string): boolean {
  const a = parseBlock(inner);
  const b = parseBlock(outer);
  if (a === null || b === null || a.family !== b.family || a.prefix <= b.prefix) return false;
  const width = a.family === 4 ? 32 : 128;
  const shift = BigInt(width - b.prefix);
  return a.bits >> shift === b.bits >> shift;
}
