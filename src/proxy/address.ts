// Addresses from a PROXY header written as superd writes any remote address:
// plain IPv4 for an IPv4-mapped IPv6 address (as for a dual-stack client),
// IPv6 in its canonical form (RFC 5952: lower case, the longest run of zero
// groups as `::`), so a rule, a log search or a handler sees one spelling.
import { SocketAddress } from 'node:net';
import { plainAddress } from '../listen/address.js';

/** `text` must be a valid IPv6 address (net.isIPv6). */
export function canonicalIPv6(text: string): string {
  return plainAddress(new SocketAddress({ address: text, family: 'ipv6' }).address);
}

/** Four bytes in network order. */
export function ipv4At(data: Buffer, offset: number): string {
  return `${data[offset]}.${data[offset + 1]}.${data[offset + 2]}.${data[offset + 3]}`;
}

/** Sixteen bytes in network order. */
export function ipv6At(data: Buffer, offset: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(data.readUInt16BE(offset + i).toString(16));
  return canonicalIPv6(groups.join(':'));
}
