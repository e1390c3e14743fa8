// Version 1 of the PROXY protocol: one line of US-ASCII,
// `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` or `PROXY UNKNOWN …\r\n`, at most
// V1_MAX bytes with its CRLF. Read strictly, as the spec asks: exactly one
// space between fields, addresses of the family named, ports in decimal
// without leading zeros, and nothing but a CRLF ends the line.
import { isIPv4, isIPv6 } from 'node:net';
import { canonicalIPv6 } from './address.js';
import { error, shown, type HeaderParse } from './types.js';

/** The longest line the spec allows, its CRLF included (`PROXY UNKNOWN` with two full IPv6 addresses and ports). */
export const V1_MAX = 107;

const PREFIX = Buffer.from('PROXY ');
const CR = 0x0d;
const LF = 0x0a;
const PORT = /^(0|[1-9][0-9]{0,4})$/;

export function parseV1(data: Buffer): HeaderParse {
  const n = Math.min(data.length, V1_MAX);
  for (let i = 0; i < Math.min(n, PREFIX.length); i++) {
    if (data[i] !== PREFIX[i]) return error(`not a PROXY version 1 header: expected 'PROXY ', got ${shown(data)}`);
  }
  for (let i = PREFIX.length; i < n; i++) {
    const c = data[i];
    if (c === CR) {
      if (i + 1 >= V1_MAX) break;
      if (i + 1 >= data.length) return { kind: 'incomplete' };
      if (data[i + 1] !== LF) return error(`PROXY version 1 header: a CR not followed by LF in ${shown(data.subarray(0, i + 2), V1_MAX)}`);
      return line(data.toString('latin1', 0, i), i + 2);
    }
    if (c === LF) return error(`PROXY version 1 header: a line ended by LF alone (CRLF expected) in ${shown(data.subarray(0, i + 1), V1_MAX)}`);
    if (c < 0x20 || c > 0x7e) return error(`PROXY version 1 header: byte 0x${c.toString(16).padStart(2, '0')} at ${i} is not printable US-ASCII`);
  }
  if (data.length < V1_MAX) return { kind: 'incomplete' };
  return error(`PROXY version 1 header longer than ${V1_MAX} bytes (no CRLF): ${shown(data, 48)}`);
}

/** The line without its CRLF, which was `length` bytes with it. */
function line(text: string, length: number): HeaderParse {
  const fields = text.split(' ');
  const protocol = fields[1];
  // The rest of an UNKNOWN line is to be ignored (the spec): the connection's own addresses serve.
  if (protocol === 'UNKNOWN') return { kind: 'local', length };
  if (protocol !== 'TCP4' && protocol !== 'TCP6') {
    return error(`PROXY version 1 header: the protocol must be TCP4, TCP6 or UNKNOWN, got ${shown(Buffer.from(protocol ?? '', 'latin1'))}`);
  }
  if (fields.length !== 6 || fields.some((f) => f === '')) {
    return error(`PROXY version 1 header: expected 'PROXY ${protocol} SOURCE DESTINATION SOURCE_PORT DESTINATION_PORT', one space apart, got ${shown(Buffer.from(text, 'latin1'), V1_MAX)}`);
  }
  const [, , src, dst, sport, dport] = fields as [string, string, string, string, string, string];
  const v4 = protocol === 'TCP4';
  for (const a of [src, dst]) {
    // Node's isIPv4 takes only dotted quads without leading zeros, as the spec writes them; a zone (`%eth0`) names no host.
    const valid = v4 ? isIPv4(a) : isIPv6(a) && !a.includes('%');
    if (!valid) return error(`PROXY version 1 header: ${shown(Buffer.from(a, 'latin1'))} is not an ${v4 ? 'IPv4' : 'IPv6'} address, as ${protocol} requires`);
  }
  for (const p of [sport, dport]) {
    if (!PORT.test(p) || Number(p) > 65535) {
      return error(`PROXY version 1 header: ${shown(Buffer.from(p, 'latin1'))} is not a port (0-65535, decimal, no leading zeros)`);
    }
  }
  const address = (a: string): string => (v4 ? a : canonicalIPv6(a));
  return {
    kind: 'proxied',
    length,
    family: v4 ? 'ipv4' : 'ipv6',
    source: { address: address(src), port: Number(sport) },
    destination: { address: address(dst), port: Number(dport) },
  };
}
