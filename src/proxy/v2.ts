// Version 2 of the PROXY protocol: a 16-byte binary head (signature,
// version and command, family and transport, the length of what follows),
// then the addresses and any TLVs. superd takes the client's address from
// TCP over IPv4 and IPv6; LOCAL (a balancer's health check) and every other
// valid family and transport serve with the connection's own addresses, as
// the spec allows; TLVs are skipped.
import { ipv4At, ipv6At } from './address.js';
import { error, shown, type HeaderParse } from './types.js';

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const HEAD = 16;

/**
 * The longest version 2 header taken, head included. The spec keeps a
 * header within 536 bytes (the smallest segment every TCP host must accept)
 * unless TLVs are needed, and balancers do add them (AWS's VPC endpoint id,
 * HAProxy's unique id, authority and TLS details: a few hundred bytes at
 * most); 1024 leaves them room while bounding what a peer can make superd
 * wait for and copy on every look at the connection.
 */
export const V2_MAX = 1024;

const LOCAL = 0x0;
const PROXY = 0x1;
/** Family and transport byte: TCP over IPv4, TCP over IPv6. */
const TCP4 = 0x11;
const TCP6 = 0x21;

export function parseV2(data: Buffer): HeaderParse {
  const n = Math.min(data.length, V2_SIGNATURE.length);
  if (!data.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) {
    return error(`not a PROXY version 2 header: the signature is \\r\\n\\r\\n\\0\\r\\nQUIT\\n, got ${shown(data)}`);
  }
  if (data.length < 13) return { kind: 'incomplete' };
  const version = data[12] >> 4;
  const command = data[12] & 0x0f;
  if (version !== 2) return error(`PROXY version 2 header: version ${version} in byte 13 (0x${hex(data[12])}), only 2 exists`);
  if (command !== LOCAL && command !== PROXY) return error(`PROXY version 2 header: command ${command} in byte 13 is neither LOCAL (0) nor PROXY (1)`);
  if (data.length < 14) return { kind: 'incomplete' };
  const familyByte = data[13];
  // LOCAL ignores the family altogether (the spec); PROXY must name a valid one.
  if (command === PROXY && ((familyByte >> 4) > 3 || (familyByte & 0x0f) > 2)) {
    return error(`PROXY version 2 header: family and transport 0x${hex(familyByte)} in byte 14 is no valid combination`);
  }
  if (data.length < HEAD) return { kind: 'incomplete' };
  const length = HEAD + data.readUInt16BE(14);
  if (length > V2_MAX) return error(`PROXY version 2 header of ${length} bytes, more than the ${V2_MAX} superd takes`);
  const addresses = command !== PROXY ? 0 : familyByte === TCP4 ? 12 : familyByte === TCP6 ? 36 : 0;
  if (length - HEAD < addresses) {
    return error(`PROXY version 2 header: ${length - HEAD} bytes after the head, fewer than the ${addresses} that TCP over ${familyByte === TCP4 ? 'IPv4' : 'IPv6'} addresses take`);
  }
  if (data.length < length) return { kind: 'incomplete' };
  if (addresses === 0) return { kind: 'local', length };
  const v4 = familyByte === TCP4;
  const size = v4 ? 4 : 16;
  const at = v4 ? ipv4At : ipv6At;
  const ports = HEAD + 2 * size;
  return {
    kind: 'proxied',
    length,
    family: v4 ? 'ipv4' : 'ipv6',
    source: { address: at(data, HEAD), port: data.readUInt16BE(ports) },
    destination: { address: at(data, HEAD + size), port: data.readUInt16BE(ports + 2) },
  };
}

const hex = (b: number): string => b.toString(16).padStart(2, '0');
