// Which udp sources superd must not answer, for the builtins. Pure, so every
// rule is tested without sockets.

/**
 * Why a datagram from `address`:`port` must get no reply, or null to answer.
 * A source port below 1024 is another server's: two builtins (echo, chargen)
 * answering each other would ping-pong forever, so the BSD inetds drop these.
 * A broadcast, multicast or unspecified source is never a real sender, and a
 * reply to one would go to many hosts, or nowhere.
 */
export function datagramRefusal(address: string, port: number): string | null {
  if (!Number.isInteger(port) || port < 0 || port > 65535) return `invalid source port ${port}`;
  if (port < 1024) return `source port ${port} < 1024`;
  const v4 = ipv4Octets(address);
  if (v4 !== null) return ipv4Refusal(v4);
  const v6 = ipv6Groups(address);
  if (v6 === null) return `unparseable source address '${address}'`;
  if (isIpv4Mapped(v6)) return ipv4Refusal(mappedOctets(v6));
  if (v6.every((g) => g === 0)) return 'unspecified source';
  if (v6[0] >= 0xff00) return 'multicast source';
  return null;
}

function ipv4Refusal(octets: readonly number[]): string | null {
  if (octets.every((o) => o === 0)) return 'unspecified source';
  if (octets.every((o) => o === 255)) return 'broadcast source';
  if (octets[0] >= 224 && octets[0] <= 239) return 'multicast source';
  return null;
}

function ipv4Octets(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return null;
  const octets = parts.map(Number);
  return octets.every((o) => o <= 255) ? octets : null;
}

/** The eight 16-bit groups of an IPv6 address, or null if it is not one. */
function ipv6Groups(address: string): number[] | null {
  // A zone (fe80::1%eth0) says which link, not which host.
  let text = address.split('%')[0];
  // A dotted IPv4 tail (::ffff:1.2.3.4) is the last two groups.
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.includes('.', lastColon)) {
    const tail = ipv4Octets(text.slice(lastColon + 1));
    if (tail === null) return null;
    const hi = ((tail[0] << 8) | tail[1]).toString(16);
    const lo = ((tail[2] << 8) | tail[3]).toString(16);
    text = `${text.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = groupsOf(halves[0]);
  const tail = halves.length === 2 ? groupsOf(halves[1]) : [];
  if (head === null || tail === null) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const missing = 8 - head.length - tail.length;
  return missing >= 1 ? [...head, ...new Array<number>(missing).fill(0), ...tail] : null;
}

function groupsOf(text: string): number[] | null {
  if (text === '') return [];
  const parts = text.split(':');
  if (!parts.every((p) => /^[0-9a-f]{1,4}$/i.test(p))) return null;
  return parts.map((p) => parseInt(p, 16));
}

function isIpv4Mapped(groups: readonly number[]): boolean {
  return groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
}

function mappedOctets(groups: readonly number[]): number[] {
  const hi = groups[6];
  const lo = groups[7];
  return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff];
}
